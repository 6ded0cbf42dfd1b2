// Wiring of the RecoveryPoint controller (deletion forgets the point's data in its vault, ADR 0073) and
// of the vault GC scheduler it feeds. It shares the policy wiring's RecoveryPoint and BackupVault caches
// (no second watch) and reaches vaults through operator/src/vaults/maintenance.ts: S3 in-process with the
// vault's Secrets, filesystem vaults through a short pod. Kept apart from run.ts, which only calls it.
import { CoreV1Api, type KubeConfig, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { API_VERSION, GROUP, Kinds, VERSION } from '../api/constants.ts';
import type { RecoveryPointStatus } from '../api/recoverypoint.ts';
import type { BackupVaultObject, RecoveryPointObject, VirtualMachineRestoreObject } from '../api/types.ts';
import type { PodSettings } from '../backup/kube/specs.ts';
import { RecoveryPointController } from '../controllers/recoverypoint.ts';
import { Controller } from '../runtime/controller.ts';
import { isNotFound } from '../runtime/errors.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { objectFinalizerApi } from '../runtime/finalizers.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Logger } from '../runtime/log.ts';
import { enqueueOnChange, type ManagedController } from '../runtime/manager.ts';
import type { RuntimeMetrics } from '../runtime/metrics.ts';
import { customObjectStatusApi } from '../runtime/status.ts';
import type { CheckPodApi } from '../vaults/check-pod.ts';
import { VaultGcScheduler } from '../vaults/gc-scheduler.ts';
import { forgetInVault, gcInVault, type MaintenanceDeps } from '../vaults/maintenance.ts';
import { coreSecretReader } from '../vaults/secrets.ts';

/** What the RecoveryPoint controller is wired from. */
export interface RecoveryPointWiringInput {
  readonly kc: KubeConfig;
  readonly workers: number;
  readonly metrics: RuntimeMetrics;
  readonly log: Logger;
  readonly events: EventRecorder;
  readonly pods: PodSettings;
  readonly gc: { readonly delayMs: number; readonly graceMs: number; readonly marginMs: number };
  /** The informers the policy and restore wirings run; recoverypoints, backupvaults and virtualmachinerestores are used. */
  readonly shared: readonly Informer<KubernetesObject>[];
}

function shared<T extends KubernetesObject>(input: RecoveryPointWiringInput, plural: string): Informer<T> {
  const found = input.shared.find((i) => i.resource === plural);
  if (!found) throw new Error(`recovery point wiring: no ${plural} informer to share`);
  return found as unknown as Informer<T>;
}

function podApi(kc: KubeConfig): CheckPodApi {
  const core = kc.makeApiClient(CoreV1Api);
  const quiet = (err: unknown): undefined => {
    if (isNotFound(err)) return undefined;
    throw err;
  };
  return {
    create: async (pod): Promise<void> => void (await core.createNamespacedPod({ namespace: pod.metadata?.namespace ?? '', body: pod })),
    read: async (namespace, name): Promise<V1Pod | undefined> => core.readNamespacedPod({ namespace, name }).catch(quiet),
    list: async (namespace, labelSelector): Promise<V1Pod[]> => (await core.listNamespacedPod({ namespace, labelSelector })).items,
    remove: async (namespace, name): Promise<void> => void (await core.deleteNamespacedPod({ namespace, name }).catch(quiet)),
  };
}

/** How the operator reaches a vault for forget and GC: in-process for S3, through a pod for a filesystem. */
export function maintenanceDeps(kc: KubeConfig, pods: PodSettings): MaintenanceDeps {
  return { secrets: coreSecretReader(kc), pods: { api: podApi(kc), settings: pods } };
}

/** Builds the RecoveryPoint controller and the GC scheduler. */
export function wireRecoveryPoints(input: RecoveryPointWiringInput): { controllers: ManagedController[] } {
  const { kc, log } = input;
  const points = shared<RecoveryPointObject>(input, 'recoverypoints');
  const vaults = shared<BackupVaultObject>(input, 'backupvaults');
  const restores = shared<VirtualMachineRestoreObject>(input, 'virtualmachinerestores');
  const core = kc.makeApiClient(CoreV1Api);
  const deps = maintenanceDeps(kc, input.pods);
  const vault = (ns: string, name: string): BackupVaultObject | undefined => vaults.get(`${ns}/${name}`);
  const gc = new VaultGcScheduler({
    vault, gc: (v) => gcInVault(v, { graceMs: input.gc.graceMs, marginMs: input.gc.marginMs }, deps), events: input.events,
    delayMs: input.gc.delayMs, followUpMs: input.gc.marginMs + input.gc.delayMs, log,
  });
  const ctl = new RecoveryPointController({
    vault,
    namespaceDeleting: async (ns) => {
      // Unreadable (no RBAC from an older chart): treated as not deleting, so the data is forgotten as asked.
      const n = await core.readNamespace({ name: ns }).catch((err: unknown) => (isNotFound(err) ? null : undefined));
      if (n === undefined) return false;
      return n === null || Boolean(n.metadata?.deletionTimestamp) || n.status?.phase === 'Terminating';
    },
    forget: (v, disks) => forgetInVault(v, disks, deps),
    restoresOf: (ns, point) => restores.list(ns)
      .filter((r) => r.spec.recoveryPointRef.name === point && r.status?.phase !== 'Succeeded' && r.status?.phase !== 'Failed')
      .map((r) => r.metadata.name!),
    onForgotten: (v) => gc.request(v),
    finalizers: objectFinalizerApi(kc, { apiVersion: API_VERSION, kind: Kinds.RecoveryPoint }),
    status: customObjectStatusApi<RecoveryPointStatus>(kc, { group: GROUP, version: VERSION, plural: 'recoverypoints' }),
    events: input.events,
    log,
  });
  const controller = new Controller<RecoveryPointObject>({ name: 'recoverypoint', store: points, reconcile: ctl.reconcile, workers: input.workers, metrics: input.metrics, log });
  enqueueOnChange(points, (k) => controller.enqueue(k));
  return { controllers: [controller, gc] };
}
