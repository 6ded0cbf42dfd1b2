// The BackupVault controller: checks each vault in-process (operator/src/vaults/probe.ts, ADR 0070) and
// writes the Ready condition with a specific reason and a message that says what to fix, the backend,
// the vault's id and format, when it last reached the vault, and how many recovery points it holds. It checks again on every spec change,
// on the annotation tresor.io/check-requested, and periodically: often while the vault is not Ready (so a
// fixed Secret or bucket shows up within a minute without watching Secrets), rarely while it is.
import { Annotations, ConditionTypes } from '../api/constants.ts';
import type { BackupVaultStatus } from '../api/backupvault.ts';
import type { BackupVaultObject } from '../api/types.ts';
import { findCondition, formatTime, setCondition, type Condition } from '../runtime/conditions.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { requeueAfter, type Outcome, type Reconciler } from '../runtime/reconciler.ts';
import { writeStatus, type StatusApi } from '../runtime/status.ts';
import type { VaultCheck } from '../vaults/probe.ts';

/** Re-check a Ready vault this often. */
export const READY_RECHECK_MS = 5 * 60_000;
/** Re-check a vault that is not Ready this often (the user is probably fixing it). */
export const NOT_READY_RECHECK_MS = 30_000;

/** The events the vault controller emits (an EventRecorder in production). */
export interface VaultEvents {
  normal(object: BackupVaultObject, reason: string, message: string): Promise<void>;
  warning(object: BackupVaultObject, reason: string, message: string): Promise<void>;
}

/** What the vault controller works with. */
export interface VaultControllerDeps {
  readonly check: (vault: BackupVaultObject, signal: AbortSignal) => Promise<VaultCheck>;
  readonly status: StatusApi<BackupVaultStatus>;
  readonly events: VaultEvents;
  readonly log?: Logger;
  readonly now?: () => number;
  readonly readyRecheckMs?: number;
  readonly notReadyRecheckMs?: number;
  /** Recovery points stored in the vault (from the RecoveryPoint cache), for status.recoveryPoints. */
  readonly countPoints?: (namespace: string, vault: string) => number;
}

interface LastCheck {
  readonly fingerprint: string;
  readonly atMs: number;
  readonly ok: boolean;
  readonly check: VaultCheck;
}

/** What makes a cached check stale besides time: a new generation or a new check request. */
export function checkFingerprint(vault: BackupVaultObject): string {
  return `${vault.metadata.generation ?? 0}/${vault.metadata.annotations?.[Annotations.CheckRequested] ?? ''}`;
}

/** The status a check produces from the current one (pure; keeps fields the check did not observe). */
export function vaultStatus(current: BackupVaultStatus | undefined, check: VaultCheck, generation: number | undefined, nowMs: number): BackupVaultStatus {
  const conditions = setCondition(current?.conditions as Condition[] | undefined, {
    type: ConditionTypes.Ready, status: check.status, reason: check.reason, message: check.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  }, nowMs);
  return {
    ...current,
    conditions: [...conditions],
    backend: check.backend,
    ...(check.repositoryId !== undefined ? { repositoryId: check.repositoryId } : {}),
    ...(check.formatVersion !== undefined ? { formatVersion: check.formatVersion } : {}),
    ...(check.reached ? { lastCheckedTime: formatTime(nowMs) } : {}),
  };
}

/** The vault controller's state across passes: when each vault was last checked, by UID. */
export class VaultController {
  private readonly deps: VaultControllerDeps;
  private readonly log: Logger;
  private readonly last = new Map<string, LastCheck>();

  constructor(deps: VaultControllerDeps) {
    this.deps = deps;
    this.log = deps.log ?? silentLogger;
  }

  /** Forgets a deleted vault's last check. */
  forget(uid: string | undefined): void {
    if (uid !== undefined) this.last.delete(uid);
  }

  /** The reconciler to hand to the runtime's Controller. */
  readonly reconcile: Reconciler<BackupVaultObject> = async (vault, ctx): Promise<Outcome> => {
    const now = this.deps.now ?? Date.now;
    const uid = vault.metadata.uid ?? `${vault.metadata.namespace}/${vault.metadata.name}`;
    const fingerprint = checkFingerprint(vault);
    let entry = this.last.get(uid);
    // Our own status write comes back as an update event, and a recovery point change wakes the vault
    // too: those passes reuse the last check from memory and only refresh the count.
    if (!entry || entry.fingerprint !== fingerprint || entry.atMs + this.interval(entry.ok) <= now()) {
      const check = await this.deps.check(vault, ctx.signal);
      entry = { fingerprint, atMs: now(), ok: check.status === 'True', check };
      this.last.set(uid, entry);
    }
    const { check, atMs } = entry;
    const points = this.deps.countPoints?.(vault.metadata.namespace ?? '', vault.metadata.name!);
    // Compare with the status as freshly read by the writer, not the cache (which may predate our last write).
    let before: Condition | undefined;
    await writeStatus({
      api: this.deps.status,
      ref: { namespace: vault.metadata.namespace, name: vault.metadata.name! },
      mutate: (cur) => {
        before = findCondition(cur.status?.conditions as Condition[] | undefined, ConditionTypes.Ready);
        const next = vaultStatus(cur.status, check, cur.generation, atMs);
        return points === undefined ? next : { ...next, recoveryPoints: points };
      },
    });
    await this.report(vault, check, before);
    return requeueAfter(Math.max(1_000, atMs + this.interval(entry.ok) - now()));
  };

  private interval(ok: boolean): number {
    return ok ? (this.deps.readyRecheckMs ?? READY_RECHECK_MS) : (this.deps.notReadyRecheckMs ?? NOT_READY_RECHECK_MS);
  }

  private async report(vault: BackupVaultObject, check: VaultCheck, before: Condition | undefined): Promise<void> {
    if (before?.status === check.status && before.reason === check.reason) return;
    this.log.info('vault readiness changed', { vault: `${vault.metadata.namespace}/${vault.metadata.name}`, status: check.status, reason: check.reason });
    if (check.status === 'True') await this.deps.events.normal(vault, check.reason, check.message);
    else await this.deps.events.warning(vault, check.reason, check.message);
  }
}
