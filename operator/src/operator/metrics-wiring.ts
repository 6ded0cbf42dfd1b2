// Wiring of the backup metrics into a running operator: a RecoveryPoint informer (watching the same
// namespace scope as the VirtualMachineBackup one), the scrape-time collector reading both caches, and the
// VirtualMachineBackup informer's updates feeding the transition counters. The caller adds the returned
// informers to the manager so they start, sync and stop with the others.
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/constants.ts';
import type { RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
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
  /** An existing RecoveryPoint informer to share (e.g. the policy controllers'); else the wiring makes one. */
  readonly recoveryPoints?: Informer<RecoveryPointObject>;
}

/** Informers the wiring created (none when it shares the caller's), for the manager to run. */
export interface BackupMetricsWiring {
  readonly informers: readonly Informer<RecoveryPointObject>[];
}

/** A list-watch cache of RecoveryPoints. */
export function recoveryPointInformer(kc: KubeConfig, namespace: string | undefined, metrics: RuntimeMetrics, log: Logger): Informer<RecoveryPointObject> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const plural = 'recoverypoints';
  const list = (): Promise<KubernetesListObject<RecoveryPointObject>> => (namespace
    ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace })
    : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<KubernetesListObject<RecoveryPointObject>>;
  const path = collectionPath({ group: GROUP, version: VERSION, plural, ...(namespace ? { namespace } : {}) });
  return new Informer({ resource: plural, source: apiListWatch({ kubeConfig: kc, path, list }), metrics, log });
}

/** Registers the backup metrics on the operator's registry and connects them to the caches. */
export function wireBackupMetrics(opts: BackupMetricsWiringOptions): BackupMetricsWiring {
  const points = opts.recoveryPoints ?? recoveryPointInformer(opts.kubeConfig, opts.namespace, opts.metrics, opts.log);
  const m = createBackupMetrics({
    registry: opts.metrics.registry,
    backups: () => opts.backups.list(),
    recoveryPoints: () => points.list(),
  });
  opts.backups.on('add', (obj) => m.observe(obj));
  opts.backups.on('update', (obj, old) => m.observe(obj, old));
  return { informers: opts.recoveryPoints ? [] : [points] };
}
