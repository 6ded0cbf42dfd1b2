// An informer that keeps a cache of one resource current and never goes silently stale: it lists, then
// watches from the list's resourceVersion; after a watch error or an expired resourceVersion it relists;
// a watchdog treats a watch that shows no sign of life for quietTimeoutMs as dead (client-node's watch can
// hang without calling done), aborts it and relists; a periodic relist catches anything still missed.
// Relisting diffs against the cache, so objects deleted while we were not watching still fire `delete`.
import { type CancelTimer, type Clock, realClock, sleep, withTimeout } from './clock.ts';
import { keyOf } from './keys.ts';
import { silentLogger, type Logger } from './log.ts';
import type { RuntimeMetrics } from './metrics.ts';
import type { KubernetesObject } from '@kubernetes/client-node';

/** One event of a watch stream, as the API server sends it. */
export interface WatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

/** Aborts a running watch. */
export interface WatchHandle {
  abort(): void;
}

/** A full list and the resourceVersion to watch from. */
export interface ListResult<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

/** The informer's narrow view of the API: list, and watch from a resourceVersion until done is called. */
export interface ListWatchSource<T> {
  list(): Promise<ListResult<T>>;
  watch(resourceVersion: string, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
}

/** Why a watch ended; decides whether the next watch needs a relist first. */
export type WatchEnd = 'closed' | 'timeout' | 'expired' | 'quiet' | 'error' | 'stopped' | 'relist';

/** Change callbacks; `old` is the cached object an update or delete replaced. */
export type InformerHandler<T> = (obj: T, old?: T) => void;

/** Options of an Informer. */
export interface InformerOptions<T> {
  /** Names the resource in logs and metrics (e.g. "virtualmachinebackups"). */
  readonly resource: string;
  readonly source: ListWatchSource<T>;
  /** A watch with no event and no (re)connect for this long is presumed dead; default 5 min. */
  readonly quietTimeoutMs?: number;
  /** A list call that has not answered after this long counts as failed (a black-holed apiserver); default 60 s. */
  readonly listTimeoutMs?: number;
  /** Relist this often even when the watch looks healthy (0 = never); default 30 min. */
  readonly relistIntervalMs?: number;
  /** First delay after an error, doubled up to maxBackoffMs; defaults 1 s and 30 s. */
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly clock?: Clock;
  readonly metrics?: RuntimeMetrics;
  readonly log?: Logger;
}

type Verb = 'add' | 'update' | 'delete';

/** A self-healing list-watch cache of one resource, keyed by "namespace/name". */
export class Informer<T extends KubernetesObject> {
  readonly resource: string;
  private readonly opts: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly cache = new Map<string, T>();
  private readonly handlers: Record<Verb, InformerHandler<T>[]> = { add: [], update: [], delete: [] };
  private readonly errorHandlers: ((err: unknown) => void)[] = [];
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private stopController: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private endCurrentWatch: ((why: WatchEnd) => void) | undefined;
  private lastListAt = 0;
  private lastErr: string | undefined;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.resource = opts.resource;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? silentLogger;
  }

  /** Registers a callback for add, update or delete of cached objects. */
  on(verb: Verb, fn: InformerHandler<T>): void {
    this.handlers[verb].push(fn);
  }

  /** Registers a callback for list and watch errors (the informer recovers by itself; this is for logs). */
  onError(fn: (err: unknown) => void): void {
    this.errorHandlers.push(fn);
  }

  /** The cached object with this key. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** All cached objects, optionally of one namespace. */
  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** The message of the last list or watch error since the last successful list (readiness shows it). */
  lastError(): string | undefined {
    return this.lastErr;
  }

  /** True once the first list has filled the cache. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has filled the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Starts listing and watching in the background; idempotent. */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopController = new AbortController();
    this.loop = this.run(this.stopController.signal);
  }

  /** Stops watching and resolves when the background loop has ended; the cache stays readable. */
  async stop(): Promise<void> {
    this.stopController?.abort(new Error('informer stopped'));
    this.endCurrentWatch?.('stopped');
    await this.loop;
    this.loop = undefined;
  }

  /** Ends the current watch as if it had died quietly, forcing a relist (tests and operators' debug hooks). */
  forceRelist(): void {
    this.endCurrentWatch?.('relist');
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (needList) await this.relist();
        if (signal.aborted) break;
        const end = await this.watchOnce();
        this.opts.metrics?.informerRestartsTotal.inc({ resource: this.resource, reason: end });
        needList = end !== 'closed' && end !== 'timeout';
        failures = end === 'error' ? failures + 1 : 0;
      } catch (err) {
        this.emitError(err);
        needList = true;
        failures++;
      }
      if (failures > 0 && !signal.aborted) await this.backoff(failures, signal);
    }
  }

  private async backoff(failures: number, signal: AbortSignal): Promise<void> {
    const base = this.opts.baseBackoffMs ?? 1000;
    const ms = Math.min(this.opts.maxBackoffMs ?? 30_000, base * 2 ** Math.min(failures - 1, 30));
    await sleep(this.clock, ms, signal).catch(() => undefined);
  }

  private async relist(): Promise<void> {
    const timeoutMs = this.opts.listTimeoutMs ?? 60_000;
    // client-node's list calls have no timeout of their own; a hung list would stall the informer for good.
    const result = await withTimeout(this.clock, this.opts.source.list(), timeoutMs, () => new Error(`listing ${this.resource}: no answer within ${timeoutMs} ms`));
    this.opts.metrics?.informerRelistsTotal.inc({ resource: this.resource });
    this.lastListAt = this.clock.now();
    this.lastErr = undefined;
    this.markAlive();
    const seen = new Set<string>();
    for (const obj of result.items) {
      const key = keyOf(obj);
      seen.add(key);
      this.upsert(key, obj);
    }
    for (const [key, old] of [...this.cache]) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.fire('delete', old);
    }
    this.resourceVersion = result.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  // Runs one watch until it ends, with the quiet-timeout watchdog and the periodic relist armed.
  private async watchOnce(): Promise<WatchEnd> {
    let settle: (why: WatchEnd) => void = () => {};
    const ended = new Promise<WatchEnd>((resolve) => (settle = resolve));
    let finished = false;
    let watchdog: CancelTimer = () => {};
    const finish = (why: WatchEnd): void => {
      if (finished) return;
      finished = true;
      watchdog();
      settle(why);
    };
    const arm = (): void => {
      watchdog();
      watchdog = this.clock.setTimer(this.opts.quietTimeoutMs ?? 300_000, () => finish('quiet'));
    };
    this.endCurrentWatch = finish;
    arm();
    const relistTimer = this.armRelist(() => finish('relist'));
    let handle: WatchHandle | undefined;
    try {
      handle = await this.opts.source.watch(
        this.resourceVersion,
        (e) => {
          if (finished) return;
          arm();
          if (this.onWatchEvent(e) === 'expired') finish('expired');
        },
        (err) => {
          // done() of a watch we already gave up on (and aborted) is expected noise, not an error to report.
          if (!finished) finish(this.classifyDone(err));
        },
      );
    } catch (err) {
      this.emitError(err);
      finish('error');
    }
    if (finished) handle?.abort();
    const why = await ended;
    relistTimer();
    // Aborting after settling: a dead connection must be torn down, and done() from it is ignored above.
    handle?.abort();
    this.endCurrentWatch = undefined;
    if (why === 'quiet') this.log.warn('watch showed no sign of life; relisting', { resource: this.resource });
    return why;
  }

  private armRelist(fire: () => void): CancelTimer {
    const every = this.opts.relistIntervalMs ?? 30 * 60_000;
    if (every <= 0) return () => {};
    return this.clock.setTimer(Math.max(0, this.lastListAt + every - this.clock.now()), fire);
  }

  private classifyDone(err: unknown): WatchEnd {
    if (err === null || err === undefined) return 'closed';
    const e = err as { name?: unknown; statusCode?: unknown; code?: unknown };
    if (e.statusCode === 410 || e.code === 410) return 'expired';
    // client-node's watch aborts itself after 30 s without data; resuming from our resourceVersion is enough.
    if (e.name === 'TimeoutError') return 'timeout';
    this.emitError(err);
    return 'error';
  }

  private onWatchEvent(e: WatchEvent<T>): 'ok' | 'expired' {
    this.markAlive();
    if (e.type === 'ERROR') {
      const status = e.object as { code?: number; message?: string };
      if (status.code === 410) return 'expired';
      this.emitError(new Error(`watch ${this.resource}: ${status.message ?? 'error event'}`));
      return 'ok';
    }
    const rv = e.object.metadata?.resourceVersion;
    if (rv !== undefined) this.resourceVersion = rv;
    if (e.type === 'BOOKMARK') return 'ok';
    const key = keyOf(e.object);
    if (e.type === 'DELETED') {
      const old = this.cache.get(key);
      this.cache.delete(key);
      this.fire('delete', e.object, old);
    } else this.upsert(key, e.object);
    return 'ok';
  }

  private upsert(key: string, obj: T): void {
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (old === undefined) this.fire('add', obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.fire('update', obj, old);
  }

  private fire(verb: Verb, obj: T, old?: T): void {
    for (const h of this.handlers[verb]) {
      try {
        h(obj, old);
      } catch (err) {
        this.log.error('informer handler threw', { resource: this.resource, verb, error: err });
      }
    }
  }

  private markAlive(): void {
    this.opts.metrics?.informerLastEventTimestampSeconds.set({ resource: this.resource }, this.clock.now() / 1000);
  }

  private emitError(err: unknown): void {
    this.lastErr = err instanceof Error ? err.message : String(err);
    this.log.warn('list/watch failed; will retry', { resource: this.resource, error: err });
    for (const h of this.errorHandlers) h(err);
  }
}
