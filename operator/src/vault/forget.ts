// Forget: remove one backup's manifest so that GC may later reclaim the blocks only it referenced.
// Each manifest is a complete block map (a child copies its parent's ids; parentId is informational),
// so forgetting a parent never breaks a child. Blocks are never deleted here: only GC deletes them, in two
// phases (ADR 0015, 0073). Forget writes nothing but the deletion, so it still works on a full filesystem.
import { liveLocks } from './locks.ts';
import { NotFoundError } from './store.ts';
import { checkDiskId, type Vault } from './vault.ts';

/** Options for forgetBackup. */
export interface ForgetOptions {
  /** The vault's retention lock (BackupVault spec.immutability.retentionLockDays): younger manifests are kept. */
  readonly retentionLockDays?: number;
  readonly now?: () => number;
}

/** How a forget ended: forgotten and absent are success; locked and deferred mean "not now, retry later". */
export type ForgetOutcome = 'forgotten' | 'absent' | 'locked' | 'deferred';

/** What forgetBackup did. */
export interface ForgetReport {
  readonly diskId: string;
  readonly backupId: string;
  readonly outcome: ForgetOutcome;
  readonly reason: string;
  /** For `locked`: when the retention lock ends (ISO 8601). */
  readonly lockedUntil?: string;
}

const DAY_MS = 86_400_000;

/** When a manifest was written: its authenticated header time, never earlier than its id's timestamp. */
function createdAtMs(createdAt: string, backupId: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(backupId);
  const fromId = m ? Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`) : NaN;
  const fromHeader = Date.parse(createdAt);
  // The later of the two: a lock is never shortened by a clock skew between writers.
  return Math.max(Number.isNaN(fromId) ? -Infinity : fromId, Number.isNaN(fromHeader) ? -Infinity : fromHeader);
}

/**
 * Removes the manifest of diskId/backupId. Idempotent: a missing manifest is `absent`.
 * Refuses (`locked`) a manifest younger than the retention lock, and defers while a backup of the same
 * disk is in flight (it may have picked this manifest as its parent and not read it yet).
 */
export async function forgetBackup(v: Vault, diskId: string, backupId: string, o: ForgetOptions = {}): Promise<ForgetReport> {
  checkDiskId(diskId);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(backupId)) throw new Error(`bad backup id '${backupId}'`);
  const now = o.now ?? Date.now;
  const key = v.manifestKey(diskId, backupId);
  const base = { diskId, backupId };
  if (!(await v.store.has(key))) return { ...base, outcome: 'absent', reason: `backup ${backupId} of disk ${diskId} is not in the vault: nothing to forget` };
  {
    // A backup of this disk may have listed this manifest as its parent and not read it yet. Locks are judged
    // on the store's clock and an unreadable one counts as live (ADR 0014).
    const busy = await liveLocks(v.store, 'backup', undefined, v.diskTag(diskId));
    if (busy.length > 0) return { ...base, outcome: 'deferred', reason: `a backup of disk ${diskId} is in flight: forgot nothing, try again when it ended` };
    let created: number;
    try {
      created = createdAtMs((await v.getManifest(diskId, backupId)).header.createdAt, backupId);
    } catch (err) {
      if (err instanceof Error && /not found in vault/.test(err.message)) return { ...base, outcome: 'absent', reason: `backup ${backupId} of disk ${diskId} is not in the vault: nothing to forget` };
      // An unreadable manifest has no trustworthy age: the lock cannot be checked, so it is kept.
      throw new Error(`cannot forget ${diskId}/${backupId}: its manifest cannot be read (${(err as Error).message})`, { cause: err });
    }
    const lockDays = o.retentionLockDays ?? 0;
    const until = created + lockDays * DAY_MS;
    if (lockDays > 0 && until > now()) {
      const lockedUntil = new Date(until).toISOString();
      return { ...base, outcome: 'locked', lockedUntil, reason: `the vault's retention lock of ${lockDays} day(s) keeps backup ${backupId} of disk ${diskId} until ${lockedUntil}` };
    }
    await v.store.delete(key).catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) throw err;
    });
    await v.store.sync();
    return { ...base, outcome: 'forgotten', reason: `forgot backup ${backupId} of disk ${diskId}; its blocks go with the next GC after the grace period unless another backup references them` };
  }
}
