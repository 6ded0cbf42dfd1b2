// Leases on a vault (ADR 0014). A lock is an object whose store-stamped modification time is its heartbeat:
// readers judge staleness on the store's clock (listing time vs. a probe written to the store), never by
// comparing their own clock with a writer's; a lock is never read, so an unreadable body cannot hide it;
// and a holder whose refresh lapsed aborts its operation instead of carrying on unprotected.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ObjectStore } from './store.ts';

/** Who holds a lock. */
export type LockKind = 'backup' | 'gc';

/** A lock as a listing shows it. */
export interface LockInfo {
  readonly kind: LockKind;
  readonly owner: string;
  readonly key: string;
  /** Time since its last refresh, on the store's clock. */
  readonly ageMs: number;
}

/** A lock not refreshed for this long (store clock) belongs to a dead or stalled process. */
export const STALE_MS = 10 * 60_000;
/** How often a holder rewrites its lock. */
export const REFRESH_MS = 60_000;
/** A holder whose last good refresh began this long ago (own monotonic clock) aborts: others may soon see it stale. */
export const LAPSE_MS = STALE_MS * 0.8;
const PROBE_PREFIX = 'clock/probe-';

/** Knobs for tests: a monotonic clock in ms and the refresh period. */
export interface LockOptions {
  readonly monotonic?: () => number;
  readonly refreshMs?: number;
  /** Called with every failed refresh (the holder keeps trying until LAPSE_MS). */
  readonly onRefreshError?: (err: unknown) => void;
}

/** A held lock that refreshes itself until released, and aborts `signal` when it can no longer vouch for itself. */
export interface HeldLock {
  readonly key: string;
  /** Aborted when the lease lapsed or the lock object vanished: the holder must stop its operation. */
  readonly signal: AbortSignal;
  /** Throws when the lease lapsed or was lost: the holder must not publish or delete anything. */
  assertFresh(): void;
  release(): Promise<void>;
}

/** The store's current time: the modification time a fresh probe object gets. */
export async function storeNow(store: ObjectStore): Promise<number> {
  const key = `${PROBE_PREFIX}${randomBytes(6).toString('hex')}`;
  await store.put(key, Buffer.alloc(0));
  try {
    for await (const o of store.list(key)) if (o.key === key) return o.modified.getTime();
    throw new Error(`vault ${store.location} does not list the clock probe ${key} it just stored`);
  } finally {
    await store.delete(key).catch(() => undefined);
  }
}

function ownerOf(key: string, kind: LockKind): string {
  return key.slice(`locks/${kind}-`.length).replace(/-[0-9a-f]{6}$/, '');
}

/** Writes a lock object and keeps it fresh; the timer is unref'd so it never keeps a process alive. */
export async function acquireLock(store: ObjectStore, kind: LockKind, owner: string, o: LockOptions = {}): Promise<HeldLock> {
  const now = o.monotonic ?? (() => performance.now());
  const key = `locks/${kind}-${owner}-${randomBytes(3).toString('hex')}`;
  const body = Buffer.from(JSON.stringify({ kind, owner }));
  const ctl = new AbortController();
  const lose = (why: string): void => {
    if (!ctl.signal.aborted) ctl.abort(new Error(`lock ${key} ${why}; aborting`));
  };
  // Taken before the write starts: the store stamps the object no earlier, so our estimate of its age is never low.
  let lastGood = now();
  await store.put(key, body);
  let busy = false;
  const refresh = async (): Promise<void> => {
    if (busy || ctl.signal.aborted) return;
    busy = true;
    try {
      const started = now();
      if (started - lastGood > LAPSE_MS) return lose(`was not refreshed for ${Math.round((started - lastGood) / 1000)} s (process stalled or store unreachable)`);
      // A lock that vanished was removed as stale by someone who then acted as if we were gone: never re-create it.
      if (!(await store.has(key))) return lose('was removed by another process (it saw the lock stale)');
      await store.put(key, body);
      lastGood = started;
    } catch (err) {
      o.onRefreshError?.(err);
      if (now() - lastGood > LAPSE_MS) lose(`could not be refreshed (${(err as Error).message})`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void refresh(), o.refreshMs ?? REFRESH_MS);
  timer.unref();
  return {
    key,
    signal: ctl.signal,
    assertFresh(): void {
      if (!ctl.signal.aborted && now() - lastGood > LAPSE_MS) lose(`was not refreshed for ${Math.round((now() - lastGood) / 1000)} s`);
      ctl.signal.throwIfAborted();
    },
    async release(): Promise<void> {
      clearInterval(timer);
      await store.delete(key);
    },
  };
}

/**
 * Locks of one kind (and owner, if given) not stale on the store's clock, excluding `except`. Never reads a
 * lock's body, so a lock that cannot be read still counts; a failed listing throws (fail closed), it never
 * means "no locks". Writes a clock probe only when some lock is listed.
 */
export async function liveLocks(store: ObjectStore, kind: LockKind, except?: string, owner?: string): Promise<LockInfo[]> {
  const listed: { key: string; modified: number }[] = [];
  for await (const o of store.list(`locks/${kind}-${owner === undefined ? '' : `${owner}-`}`)) {
    if (o.key === except || (owner !== undefined && ownerOf(o.key, kind) !== owner)) continue;
    listed.push({ key: o.key, modified: o.modified.getTime() });
  }
  if (listed.length === 0) return [];
  const now = await storeNow(store);
  return listed
    .map((l) => ({ kind, owner: ownerOf(l.key, kind), key: l.key, ageMs: now - l.modified }))
    .filter((l) => l.ageMs < STALE_MS);
}

/** Deletes locks of dead processes (not refreshed for STALE_MS on the store's clock); returns how many. */
export async function removeStaleLocks(store: ObjectStore, kind: LockKind): Promise<number> {
  const listed: { key: string; modified: number }[] = [];
  for await (const o of store.list(`locks/${kind}-`)) listed.push({ key: o.key, modified: o.modified.getTime() });
  if (listed.length === 0) return 0;
  const now = await storeNow(store);
  const stale = listed.filter((l) => now - l.modified >= STALE_MS).map((l) => l.key);
  await store.deleteMany(stale);
  return stale.length;
}

/** Waits until no live lock of `kind` remains, polling; throws after timeoutMs or when `signal` aborts. */
export async function waitForNoLocks(store: ObjectStore, kind: LockKind, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const live = await liveLocks(store, kind);
    if (live.length === 0) return;
    if (performance.now() > deadline) throw new Error(`${kind} holds a lock on the vault (${live[0]?.owner}); try again later`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
