// Wiring of the BackupVault and BackupPolicy controllers: their informers (policies, vaults, KubeVirt
// VirtualMachines, recovery points; the VirtualMachineBackup informer is shared with the backup
// controller), the controllers, and which changes wake which policy: a VM change wakes the policies of
// its namespace, a job change its policy, a vault change the policies that name it.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod, type KubernetesListObject, type KubernetesObject, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Annotations, GROUP, Kinds, Labels, VERSION } from '../api/constants.ts';
import type { BackupPolicyStatus } from '../api/backuppolicy.ts';
import type { BackupVaultStatus } from '../api/backupvault.ts';
import type { RecoveryPointStatus } from '../api/recoverypoint.ts';
import type { BackupPolicyObject, BackupVaultObject, RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
import { PolicyController, type PolicyApi, type PolicyCache } from '../controllers/policy.ts';
import type { VmSummary } from '../controllers/policy-plan.ts';
import { VaultController, type VaultEvents } from '../controllers/vault.ts';
import { Controller } from '../runtime/controller.ts';
import { isConflict, isNotFound } from '../runtime/errors.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import { keyOf } from '../runtime/keys.ts';
import { apiListWatch, collectionPath } from '../runtime/listwatch.ts';
import type { Logger } from '../runtime/log.ts';
import { enqueueOnChange, type ManagedController } from '../runtime/manager.ts';
import type { RuntimeMetrics } from '../runtime/metrics.ts';
import { customObjectStatusApi } from '../runtime/status.ts';
import type { PodSettings } from '../backup/kube/specs.ts';
import { type CheckPodApi, checkWithPod } from '../vaults/check-pod.ts';
import { checkVault } from '../vaults/probe.ts';
import { readS3Config } from '../vaults/s3-config.ts';
import { coreSecretReader } from '../vaults/secrets.ts';

/** What the policy and vault controllers are wired from. */
export interface PolicyWiringInput {
  readonly kc: KubeConfig;
  /** Watch one namespace, or all when undefined. */
  readonly namespace: string | undefined;
  readonly workers: number;
  readonly metrics: RuntimeMetrics;
  readonly log: Logger;
  readonly events: EventRecorder;
  /** The VirtualMachineBackup informer the backup controller already runs. */
  readonly jobs: Informer<VirtualMachineBackupObject>;
  /** How Tresor pods run; given, filesystem vaults are checked by a pod (ADR 0070). */
  readonly pods?: PodSettings;
  /** S3 endpoint origins the operator may call (TRESOR_S3_ENDPOINTS); absent or empty: any. */
  readonly s3Endpoints?: readonly string[];
}

/** The informers and controllers to hand to the manager. */
export interface PolicyWiring {
  readonly informers: readonly Informer<KubernetesObject>[];
  readonly controllers: readonly ManagedController[];
}

/** A custom resource type to inform on. */
export interface Resource { readonly group: string; readonly version: string; readonly plural: string; readonly kind: string }

/** An informer on a custom resource, in one namespace or all. */
export function informer<T extends KubernetesObject>(input: Pick<PolicyWiringInput, 'kc' | 'namespace'> & { metrics?: RuntimeMetrics; log?: Logger }, r: Resource): Informer<T> {
  const custom = input.kc.makeApiClient(CustomObjectsApi);
  const ns = input.namespace;
  const list = (): Promise<KubernetesListObject<T>> => (ns
    ? custom.listNamespacedCustomObject({ group: r.group, version: r.version, plural: r.plural, namespace: ns })
    : custom.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural })) as Promise<KubernetesListObject<T>>;
  const path = collectionPath({ group: r.group, version: r.version, plural: r.plural, ...(ns ? { namespace: ns } : {}) });
  const typeMeta = { apiVersion: `${r.group}/${r.version}`, kind: r.kind };
  const source = apiListWatch({ kubeConfig: input.kc, path, list, typeMeta });
  return new Informer<T>({ resource: r.plural, source, ...(input.metrics ? { metrics: input.metrics } : {}), ...(input.log ? { log: input.log } : {}) });
}

/** A Tresor kind as a Resource. */
export const tresor = (plural: string, kind: string): Resource => ({ group: GROUP, version: VERSION, plural, kind });

function policyApi(kc: KubeConfig): PolicyApi {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const jobs = { group: GROUP, version: VERSION, plural: 'virtualmachinebackups' };
  return {
    async createJob(job): Promise<void> {
      await custom.createNamespacedCustomObject({ ...jobs, namespace: job.metadata.namespace ?? '', body: job });
    },
    async readJob(namespace, name): Promise<VirtualMachineBackupObject | undefined> {
      try {
        return (await custom.getNamespacedCustomObject({ ...jobs, namespace, name })) as VirtualMachineBackupObject;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async clearRunNow(namespace, name, value): Promise<void> {
      const current = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'backuppolicies', namespace, name })) as BackupPolicyObject;
      if (current.metadata.annotations?.[Annotations.RunNow] !== value) return;
      // The resourceVersion precondition keeps a newer run-now request that arrived meanwhile.
      const body = { metadata: { resourceVersion: current.metadata.resourceVersion, annotations: { [Annotations.RunNow]: null } } };
      await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'backuppolicies', namespace, name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    },
  };
}

/** Deletes a recovery point by name with its UID as precondition (never a same-named successor); gone is success. */
function pointDeleter(kc: KubeConfig): (p: RecoveryPointObject) => Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return async (p) => {
    const body = { preconditions: { uid: p.metadata.uid } };
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'recoverypoints', namespace: p.metadata.namespace ?? '', name: p.metadata.name!, body }).catch((err: unknown) => {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    });
  };
}

function cacheOf(vaults: Informer<BackupVaultObject>, vms: Informer<KubernetesObject>, jobs: Informer<VirtualMachineBackupObject>, points: Informer<RecoveryPointObject>): PolicyCache {
  return {
    vault: (ns, name) => vaults.get(`${ns}/${name}`),
    vms: (ns): VmSummary[] => vms.list(ns).map((vm) => ({ name: vm.metadata!.name!, ...(vm.metadata?.labels ? { labels: vm.metadata.labels } : {}), ...(vm.metadata?.annotations ? { annotations: vm.metadata.annotations } : {}) })),
    jobs: (ns) => jobs.list(ns),
    points: (ns) => points.list(ns),
  };
}

function corePodApi(kc: KubeConfig): CheckPodApi {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async create(pod): Promise<void> {
      await core.createNamespacedPod({ namespace: pod.metadata?.namespace ?? '', body: pod });
    },
    async read(namespace, name): Promise<V1Pod | undefined> {
      return core.readNamespacedPod({ namespace, name }).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
    },
    async list(namespace, labelSelector): Promise<V1Pod[]> {
      return (await core.listNamespacedPod({ namespace, labelSelector })).items;
    },
    async remove(namespace, name): Promise<void> {
      await core.deleteNamespacedPod({ namespace, name }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    },
  };
}

/**
 * The BackupVault controller over the real API: Secrets read by name, S3 checked in-process, a
 * filesystem vault by a check pod when pod settings are given (else Ready/NotVerified).
 */
export function newVaultController(o: { kc: KubeConfig; events: VaultEvents; log?: Logger; notReadyRecheckMs?: number; pods?: PodSettings; s3Endpoints?: readonly string[]; countPoints?: (ns: string, vault: string) => number }): VaultController {
  const secrets = coreSecretReader(o.kc);
  const podDeps = o.pods ? { pods: corePodApi(o.kc), settings: o.pods } : undefined;
  const checkFilesystem = podDeps ? { checkFilesystem: (v: BackupVaultObject, signal?: AbortSignal) => checkWithPod(v, podDeps, signal) } : {};
  return new VaultController({
    check: (v, signal) => checkVault(v, { secrets, readConfig: readS3Config, filesystemVaults: o.pods?.filesystemVaults ?? [], s3Endpoints: o.s3Endpoints ?? [], ...checkFilesystem }, signal),
    status: customObjectStatusApi<BackupVaultStatus>(o.kc, { group: GROUP, version: VERSION, plural: 'backupvaults' }),
    events: o.events,
    ...(o.log ? { log: o.log } : {}),
    ...(o.notReadyRecheckMs !== undefined ? { notReadyRecheckMs: o.notReadyRecheckMs } : {}),
    ...(o.countPoints ? { countPoints: o.countPoints } : {}),
  });
}

/** Builds the vault and policy controllers and their informers. */
export function wirePolicyControllers(input: PolicyWiringInput): PolicyWiring {
  const { kc, metrics, log, events } = input;
  const policies = informer<BackupPolicyObject>(input, tresor('backuppolicies', Kinds.BackupPolicy));
  const vaults = informer<BackupVaultObject>(input, tresor('backupvaults', Kinds.BackupVault));
  const points = informer<RecoveryPointObject>(input, tresor('recoverypoints', Kinds.RecoveryPoint));
  const vms = informer<KubernetesObject>(input, { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', kind: 'VirtualMachine' });
  const countPoints = (ns: string, vault: string): number => points.list(ns).filter((p) => p.spec.vaultRef.name === vault && !p.metadata.deletionTimestamp).length;
  const vaultCtl = newVaultController({ kc, events, log, countPoints, ...(input.pods ? { pods: input.pods } : {}), ...(input.s3Endpoints ? { s3Endpoints: input.s3Endpoints } : {}) });
  const policyCtl = new PolicyController({
    cache: cacheOf(vaults, vms, input.jobs, points),
    api: policyApi(kc),
    status: customObjectStatusApi<BackupPolicyStatus>(kc, { group: GROUP, version: VERSION, plural: 'backuppolicies' }),
    retention: { points: customObjectStatusApi<RecoveryPointStatus>(kc, { group: GROUP, version: VERSION, plural: 'recoverypoints' }), deletePoint: pointDeleter(kc) },
    events, log,
  });
  const vaultController = new Controller<BackupVaultObject>({ name: 'backupvault', store: vaults, reconcile: vaultCtl.reconcile, workers: input.workers, metrics, log });
  const policyController = new Controller<BackupPolicyObject>({ name: 'backuppolicy', store: policies, reconcile: policyCtl.reconcile, workers: input.workers, metrics, log });
  enqueueOnChange(vaults, (k) => vaultController.enqueue(k));
  vaults.on('delete', (v) => vaultCtl.forget(v.metadata.uid));
  enqueueOnChange(points, (k) => vaultController.enqueue(k), (p) => [`${p.metadata.namespace}/${p.spec.vaultRef.name}`]);
  enqueueOnChange(policies, (k) => policyController.enqueue(k));
  const policiesIn = (ns: string | undefined, pick: (p: BackupPolicyObject) => boolean = () => true): string[] => policies.list(ns).filter(pick).map((p) => keyOf(p));
  enqueueOnChange(vms, (k) => policyController.enqueue(k), (vm) => policiesIn(vm.metadata?.namespace));
  enqueueOnChange(vaults, (k) => policyController.enqueue(k), (v) => policiesIn(v.metadata.namespace, (p) => p.spec.vaultRef.name === v.metadata.name));
  enqueueOnChange(input.jobs, (k) => policyController.enqueue(k), (j) => {
    const name = j.metadata.labels?.[Labels.Policy] ?? j.spec.policyRef?.name;
    return name ? [`${j.metadata.namespace}/${name}`] : [];
  });
  return { informers: [policies, vaults, points, vms] as Informer<KubernetesObject>[], controllers: [vaultController, policyController] };
}
