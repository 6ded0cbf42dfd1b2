// Wiring of the backup metrics into a running operator: RecoveryPoint and BackupPolicy caches (shared with
// the policy controllers when the caller passes theirs, else made here in the same namespace scope as the
// VirtualMachineBackup informer), the scrape-time collector reading them, and the VirtualMachineBackup
// informer's updates feeding the transition counters. The caller adds the returned informers (the ones
// made here) to the manager so they start, sync and stop with the others.
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/constants.ts';
import type { BackupPolicyObject, RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
import { createBackupMetrics } from '../metrics/backup-metrics.ts';
import { Informer } from '../runtime/informer.ts';
import { apiListWatch, collectionPath } from '../runtime/listwatch.ts';
import type { Logger } from '../runtime/log.ts';
import type { RuntimeMetrics } from '../runtime/metrics.ts';

/** What the backup metrics need from the operator. */
export interface BackupMetricsWiringOptions {
  readonly kubeConfig: KubeConfig;
  /** Watch one namespace, or all when undefined (the operator's TRESOR_WATCH_NAMESPACE). */
  readonly namespace: string | undefined;
  readonly metrics: RuntimeMetrics;
  readonly log: Logger;
  /** The operator's VirtualMachineBackup informer (shared, not a second watch). */
  readonly backups: Informer<VirtualMachineBackupObject>;
  /** Informers to share by resource ("recoverypoints", "backuppolicies"), e.g. the policy controllers'. */
  readonly shared?: readonly Informer<KubernetesObject>[];
}

/** Informers the wiring created (none for the resources it shares), for the manager to run. */
export interface BackupMetricsWiring {
  readonly informers: readonly Informer<KubernetesObject>[];
}

/** A list-watch cache of one tresor.io resource. */
export function tresorInformer<T extends KubernetesObject>(kc: KubeConfig, plural: string, o: { namespace: string | undefined; metrics: RuntimeMetrics; log: Logger }): Informer<T> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const ns = o.namespace;
  const list = (): Promise<KubernetesListObject<T>> => (ns
    ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace: ns })
    : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<KubernetesListObject<T>>;
  const path = collectionPath({ group: GROUP, version: VERSION, plural, ...(ns ? { namespace: ns } : {}) });
  return new Informer({ resource: plural, source: apiListWatch({ kubeConfig: kc, path, list }), metrics: o.metrics, log: o.log });
}

/** Registers the backup metrics on the operator's registry and connects them to the caches. */
export function wireBackupMetrics(opts: BackupMetricsWiringOptions): BackupMetricsWiring {
  const made: Informer<KubernetesObject>[] = [];
  const cache = <T extends KubernetesObject>(plural: string): Informer<T> => {
    const found = opts.shared?.find((i) => i.resource === plural);
    if (found) return found as unknown as Informer<T>;
    const inf = tresorInformer<T>(opts.kubeConfig, plural, opts);
    made.push(inf as unknown as Informer<KubernetesObject>);
    return inf;
  };
  const points = cache<RecoveryPointObject>('recoverypoints');
  const policies = cache<BackupPolicyObject>('backuppolicies');
  const m = createBackupMetrics({
    registry: opts.metrics.registry,
    backups: () => opts.backups.list(),
    recoveryPoints: () => points.list(),
    policies: () => policies.list(),
  });
  opts.backups.on('add', (obj) => m.observe(obj));
  opts.backups.on('update', (obj, old) => m.observe(obj, old));
  return { informers: made };
}
