// In-flight markers that keep GC and backups from racing: each side writes its own lock, then reads the other's.
import { randomBytes } from 'node:crypto';
import type { ObjectStore } from './store.ts';

/** Who holds a lock. */
export type LockKind = 'backup' | 'gc';

/** A lock object's content. */
export interface LockInfo {
  readonly kind: LockKind;
  readonly owner: string;
  readonly refreshedAt: string;
}

/** A lock not refreshed for this long belongs to a dead process (a backup refreshes every REFRESH_MS). */
export const STALE_MS = 10 * 60_000;
const REFRESH_MS = 60_000;

/** A held lock that refreshes itself until released. */
export interface HeldLock {
  readonly key: string;
  /** Throws when the lock went stale while held (the process stalled): the holder must not publish. */
  assertFresh(): void;
  release(): Promise<void>;
}

/** Writes a lock object and keeps it fresh; the timer is unref'd so it never keeps a process alive. */
export async function acquireLock(store: ObjectStore, kind: LockKind, owner: string): Promise<HeldLock> {
  const key = `locks/${kind}-${owner}-${randomBytes(3).toString('hex')}`;
  let refreshed = Date.now();
  const write = async (): Promise<void> => {
    const info: LockInfo = { kind, owner, refreshedAt: new Date().toISOString() };
    await store.put(key, Buffer.from(JSON.stringify(info)));
    refreshed = Date.now();
  };
  await write();
  const timer = setInterval(() => {
    write().catch(() => undefined);
  }, REFRESH_MS);
  timer.unref();
  return {
    key,
    assertFresh(): void {
      if (Date.now() - refreshed > STALE_MS * 0.8) throw new Error(`lock ${key} went stale while held; not publishing`);
    },
    async release(): Promise<void> {
      clearInterval(timer);
      await store.delete(key);
    },
  };
}

/** Live locks of one kind (refreshed within STALE_MS), excluding `except`. */
export async function liveLocks(store: ObjectStore, kind: LockKind, except?: string): Promise<LockInfo[]> {
  const out: LockInfo[] = [];
  for await (const o of store.list(`locks/${kind}-`)) {
    if (o.key === except) continue;
    const info = JSON.parse((await store.get(o.key).catch(() => Buffer.from('null'))).toString()) as LockInfo | null;
    if (info && Date.now() - Date.parse(info.refreshedAt) < STALE_MS) out.push(info);
  }
  return out;
}

/** Deletes locks of dead processes (not refreshed for STALE_MS), e.g. of a SIGKILLed backup; returns how many. */
export async function removeStaleLocks(store: ObjectStore, kind: LockKind): Promise<number> {
  let removed = 0;
  for await (const o of store.list(`locks/${kind}-`)) {
    const info = JSON.parse((await store.get(o.key).catch(() => Buffer.from('null'))).toString()) as LockInfo | null;
    if (info && Date.now() - Date.parse(info.refreshedAt) >= STALE_MS) {
      await store.delete(o.key);
      removed++;
    }
  }
  return removed;
}

/** Waits until no live lock of `kind` remains, polling; throws after timeoutMs. */
export async function waitForNoLocks(store: ObjectStore, kind: LockKind, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const live = await liveLocks(store, kind);
    if (live.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${kind} holds a lock on the vault (${live[0]?.owner}); try again later`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
