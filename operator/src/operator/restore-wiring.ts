// Wiring of the VirtualMachineRestore controller: the restore workflows over the Kubernetes
// RestoreCluster (registered with DBOS before it launches, so a restarted replica recovers them), the
// VirtualMachineRestore informer and the controller. Kept apart from run.ts, which only calls it.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, GROUP, Kinds, VERSION } from '../api/constants.ts';
import type { VirtualMachineRestoreObject } from '../api/types.ts';
import { RestoreController } from '../controllers/restore.ts';
import { KubeRestoreCluster } from '../restore/kube/cluster.ts';
import { registerRestoreWorkflows } from '../restore/workflow.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { objectFinalizerApi } from '../runtime/finalizers.ts';
import { Informer } from '../runtime/informer.ts';
import { apiListWatch, collectionPath } from '../runtime/listwatch.ts';
import type { Logger } from '../runtime/log.ts';
import { enqueueOnChange, type ManagedController } from '../runtime/manager.ts';
import type { RuntimeMetrics } from '../runtime/metrics.ts';
import type { OperatorConfig } from './config.ts';

/** What the restore controller is wired from. */
export interface RestoreWiringInput {
  readonly kc: KubeConfig;
  readonly cfg: OperatorConfig;
  readonly events: EventRecorder;
  readonly metrics: RuntimeMetrics;
  readonly log: Logger;
}

/** The informer and controller to hand to the manager. */
export interface RestoreWiring {
  readonly informers: readonly Informer<KubernetesObject>[];
  readonly controllers: readonly ManagedController[];
  /** The restore controller itself (tests wait on its workflows). */
  readonly restores: RestoreController;
}

function restoreInformer(input: RestoreWiringInput): Informer<VirtualMachineRestoreObject> {
  const custom = input.kc.makeApiClient(CustomObjectsApi);
  const plural = 'virtualmachinerestores';
  const ns = input.cfg.namespace;
  const list = (): Promise<KubernetesListObject<VirtualMachineRestoreObject>> => (ns
    ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace: ns })
    : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<KubernetesListObject<VirtualMachineRestoreObject>>;
  const path = collectionPath({ group: GROUP, version: VERSION, plural, ...(ns ? { namespace: ns } : {}) });
  const typeMeta = { apiVersion: API_VERSION, kind: Kinds.VirtualMachineRestore };
  return new Informer({ resource: plural, source: apiListWatch({ kubeConfig: input.kc, path, list, typeMeta }), metrics: input.metrics, log: input.log });
}

/**
 * Registers the restore workflows and builds the informer and controller. Call before DBOS.launch:
 * DBOS recovers only workflows registered when it launches. Restore pods share the backup transfers'
 * DBOS queue (registered by the backup wiring), so one limit bounds all data movement.
 */
export function wireRestores(input: RestoreWiringInput): RestoreWiring {
  const { cfg, kc } = input;
  const cluster = new KubeRestoreCluster({ kubeConfig: kc, pods: cfg.pods, events: input.events, pendingTimeoutMs: cfg.podPendingTimeoutMs });
  const workflows = registerRestoreWorkflows(cluster, { restoreAttempts: cfg.limits.transferAttempts });
  const restores = new RestoreController({
    cluster, workflows,
    control: { cancel: (uid) => DBOS.cancelWorkflow(uid, { cancelChildren: true }) },
    finalizers: objectFinalizerApi(kc, { apiVersion: API_VERSION, kind: Kinds.VirtualMachineRestore }),
    log: input.log,
  });
  const informer = restoreInformer(input);
  const controller = new Controller<VirtualMachineRestoreObject>({
    name: 'virtualmachinerestore', store: informer, reconcile: restores.reconcile, workers: cfg.workers, metrics: input.metrics, log: input.log,
  });
  enqueueOnChange(informer, (k) => controller.enqueue(k));
  return { informers: [informer as unknown as Informer<KubernetesObject>], controllers: [controller], restores };
}
