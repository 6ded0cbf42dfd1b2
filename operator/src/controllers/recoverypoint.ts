// The RecoveryPoint controller: deleting a recovery point forgets its manifests in the vault before its
// finalizer (tresor.io/vault-data) goes, so deleted points do not leak storage (ADR 0073). The vault may
// refuse for now (its retention lock, a backup of the disk in flight) or be unreachable: the finalizer
// stays, the VaultDataForgotten condition and a Warning Event say why and until when, and the pass is
// retried. Three cases release the finalizer without touching the vault, keeping the data: the annotation
// tresor.io/forget-vault-data: "false", a namespace being deleted (a namespace deletion never deletes
// backups), and a BackupVault that no longer exists. Blocks are removed later by GC, never here.
import { Annotations, ConditionTypes, EventReasons, Reasons, VAULT_DATA_FINALIZER } from '../api/constants.ts';
import type { RecoveryPointStatus } from '../api/recoverypoint.ts';
import type { BackupVaultObject, RecoveryPointObject } from '../api/types.ts';
import { foreignDisks } from '../backup/kube/specs.ts';
import { findCondition, setCondition, type Condition } from '../runtime/conditions.ts';
import { hasFinalizer, isBeingDeleted, removeFinalizer, type FinalizerApi } from '../runtime/finalizers.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { done, requeueAfter, type Outcome, type Reconciler } from '../runtime/reconciler.ts';
import { writeStatus, type StatusApi } from '../runtime/status.ts';
import type { ForgetReport } from '../vault/forget.ts';
import type { DiskBackup } from '../vaults/maintenance.ts';

/** Retry a vault that could not be reached, or a deferred forget, after this long. */
export const FORGET_RETRY_MS = 30_000;
/** Look at a retention-locked point at least this often (a lock may be lowered by recreating the vault). */
export const LOCKED_RECHECK_MAX_MS = 6 * 3_600_000;

/** The events the controller emits (an EventRecorder in production). */
export interface PointEvents {
  normal(object: RecoveryPointObject, reason: string, message: string): Promise<void>;
  warning(object: RecoveryPointObject, reason: string, message: string): Promise<void>;
}

/** What the RecoveryPoint controller works with. */
export interface RecoveryPointControllerDeps {
  /** The BackupVault from the cache; undefined when it does not exist. */
  readonly vault: (namespace: string, name: string) => BackupVaultObject | undefined;
  /** True while the namespace is being deleted. */
  readonly namespaceDeleting: (namespace: string) => Promise<boolean>;
  /** Forgets the disk backups in the vault, one report each; throws when the vault cannot be used. */
  readonly forget: (vault: BackupVaultObject, disks: readonly DiskBackup[]) => Promise<ForgetReport[]>;
  /** Unfinished VirtualMachineRestores reading from the point (from the cache); the forget waits for them. */
  readonly restoresOf?: (namespace: string, point: string) => readonly string[];
  /** Told after a point's data was forgotten (the GC cadence of ADR 0073 hangs off it). */
  readonly onForgotten?: (vault: BackupVaultObject) => void;
  readonly finalizers: FinalizerApi;
  readonly status: StatusApi<RecoveryPointStatus>;
  readonly events: PointEvents;
  readonly log?: Logger;
  readonly now?: () => number;
}

/** The disk backups a recovery point names in its vault. */
export function pointDisks(p: RecoveryPointObject): DiskBackup[] {
  return p.spec.disks.map((d) => ({ diskId: d.vaultDiskId, backupId: d.manifestId }));
}

/** Why the data could not be forgotten yet, and when to look again (pure). */
export interface NotYet {
  readonly reason: string;
  readonly message: string;
  readonly retryMs: number;
}

/** Judges the vault's reports: undefined when every disk is forgotten or absent (pure). */
export function judgeForget(reports: readonly ForgetReport[], nowMs: number): NotYet | undefined {
  const locked = reports.filter((r) => r.outcome === 'locked');
  if (locked.length > 0) {
    const until = Math.max(...locked.map((r) => Date.parse(r.lockedUntil ?? '') || nowMs));
    const at = new Date(until).toISOString();
    return {
      reason: Reasons.RetentionLocked,
      message: `the vault's retention lock keeps this recovery point's data until ${at} (${locked.map((r) => r.reason).join('; ')}); it will be deleted then. To release the object now and keep the data, annotate it ${Annotations.ForgetVaultData}="false"`,
      retryMs: Math.min(LOCKED_RECHECK_MAX_MS, Math.max(1_000, until - nowMs + 1_000)),
    };
  }
  const deferred = reports.filter((r) => r.outcome === 'deferred');
  if (deferred.length > 0) return { reason: Reasons.BackupInFlight, message: deferred.map((r) => r.reason).join('; '), retryMs: FORGET_RETRY_MS };
  return undefined;
}

/** The RecoveryPoint controller; only deletion needs it. */
export class RecoveryPointController {
  private readonly deps: RecoveryPointControllerDeps;
  private readonly log: Logger;

  constructor(deps: RecoveryPointControllerDeps) {
    this.deps = deps;
    this.log = deps.log ?? silentLogger;
  }

  /** The reconciler to hand to the runtime's Controller. */
  readonly reconcile: Reconciler<RecoveryPointObject> = async (point): Promise<Outcome> => {
    // Points without our finalizer (recorded before it existed, or already released) need nothing.
    if (!isBeingDeleted(point) || !hasFinalizer(point, VAULT_DATA_FINALIZER)) return done();
    const ns = point.metadata.namespace ?? '';
    const keep = await this.keepWhy(point, ns);
    if (keep) return this.release(point, keep, 'keep');
    const readers = this.deps.restoresOf?.(ns, point.metadata.name!) ?? [];
    if (readers.length > 0) {
      return this.notYet(point, { reason: Reasons.RestoreInProgress, message: `restore(s) ${readers.join(', ')} read from this recovery point: its data is forgotten when they ended`, retryMs: FORGET_RETRY_MS });
    }
    const vault = this.deps.vault(ns, point.spec.vaultRef.name)!;
    let reports: ForgetReport[];
    try {
      reports = await this.deps.forget(vault, pointDisks(point));
    } catch (err) {
      const message = `cannot forget this recovery point's data in vault ${vault.metadata.name}: ${(err as Error).message}; retrying. To release the object and keep the data, annotate it ${Annotations.ForgetVaultData}="false"`;
      return this.notYet(point, { reason: Reasons.VaultUnreachable, message, retryMs: FORGET_RETRY_MS });
    }
    const why = judgeForget(reports, this.now());
    if (why) return this.notYet(point, why);
    this.deps.onForgotten?.(vault);
    const n = reports.filter((r) => r.outcome === 'forgotten').length;
    return this.release(point, `forgot ${n} of ${reports.length} disk backup(s) in vault ${vault.metadata.name} (the rest were already gone); GC reclaims blocks no other recovery point uses`, 'forgotten');
  };

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Why the data is kept and the finalizer released without asking the vault, if it is. */
  private async keepWhy(point: RecoveryPointObject, ns: string): Promise<string | undefined> {
    const flag = point.metadata.annotations?.[Annotations.ForgetVaultData];
    if (flag === 'false') return `${Annotations.ForgetVaultData}="false": released without touching the vault; its data stays (forget it with 'tresor vault forget' for each disk in spec.disks)`;
    if (await this.deps.namespaceDeleting(ns)) return `namespace ${ns} is being deleted: released without touching the vault, whose data stays (a namespace deletion never deletes backups)`;
    const foreign = foreignDisks(ns, point.spec.vmUID, point.spec.disks);
    if (foreign.length > 0) return `disk(s) ${foreign.join(', ')} name vault data that is not this point's VM's in namespace ${ns} (${Reasons.ForeignVaultData}): released without touching the vault`;
    if (!this.deps.vault(ns, point.spec.vaultRef.name)) return `BackupVault ${point.spec.vaultRef.name} does not exist: released without touching the vault, whose data stays`;
    return undefined;
  }

  private async release(point: RecoveryPointObject, message: string, how: 'keep' | 'forgotten'): Promise<Outcome> {
    if (how === 'forgotten') await this.deps.events.normal(point, EventReasons.VaultDataForgotten, message);
    else await this.deps.events.warning(point, EventReasons.VaultDataKept, message);
    this.log.info('recovery point released', { point: `${point.metadata.namespace}/${point.metadata.name}`, how });
    await removeFinalizer(this.deps.finalizers, { namespace: point.metadata.namespace, name: point.metadata.name! }, VAULT_DATA_FINALIZER);
    return done();
  }

  private async notYet(point: RecoveryPointObject, why: NotYet): Promise<Outcome> {
    let before: Condition | undefined;
    await writeStatus({
      api: this.deps.status,
      ref: { namespace: point.metadata.namespace, name: point.metadata.name! },
      mutate: (cur) => {
        before = findCondition(cur.status?.conditions as Condition[] | undefined, ConditionTypes.VaultDataForgotten);
        const conditions = setCondition(cur.status?.conditions as Condition[] | undefined, { type: ConditionTypes.VaultDataForgotten, status: 'False', reason: why.reason, message: why.message }, this.now());
        return { ...cur.status, conditions: [...conditions] } as RecoveryPointStatus;
      },
    });
    if (before?.reason !== why.reason || before.message !== why.message) await this.deps.events.warning(point, EventReasons.VaultDataRetained, why.message);
    return requeueAfter(why.retryMs);
  }
}
