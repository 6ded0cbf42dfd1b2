// A work queue of object keys with client-go's guarantees: a key is queued at most once however many
// events arrive, a key is handed to one worker at a time, failed keys come back after a per-key backoff,
// and shutdown lets in-flight work finish.
import { type Clock, realClock, type CancelTimer } from './clock.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { defaultRateLimiter, type RateLimiter } from './ratelimit.ts';

/** Options of a WorkQueue. */
export interface WorkQueueOptions {
  /** Names the queue in metrics (usually the controller's name). */
  readonly name: string;
  readonly clock?: Clock;
  readonly rateLimiter?: RateLimiter;
  readonly metrics?: RuntimeMetrics;
}

/** Options of WorkQueue.shutdown. */
export interface ShutdownOptions {
  /** Drop keys that are queued but not yet taken (e.g. on losing leadership); default keeps draining them. */
  readonly discardQueued?: boolean;
}

interface Delayed {
  readonly at: number;
  readonly cancel: CancelTimer;
}

/** A de-duplicating, rate-limited, delay-capable work queue of string keys. */
export class WorkQueue {
  private readonly name: string;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly metrics: RuntimeMetrics | undefined;
  private queue: string[] = [];
  // Keys that need a pass: queued ones, and in-flight ones that got a new add while processing.
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, Delayed>();
  private readonly enqueuedAt = new Map<string, number>();
  private getters: ((key: string | undefined) => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultRateLimiter(this.clock);
    this.metrics = opts.metrics;
  }

  /** Marks key as needing a pass; a no-op while it is already queued, deferred while a worker holds it. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.metrics?.workqueueAddsTotal.inc({ queue: this.name });
    // A key being processed is re-queued by done(), so two workers never hold the same key.
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds key after ms; if an earlier delayed add for key is pending, the earlier one wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      existing.cancel();
    }
    const cancel = this.clock.setTimer(ms, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { at, cancel });
  }

  /** Re-adds key after its rate limiter's delay (one more failure recorded). */
  addRateLimited(key: string): void {
    this.metrics?.workqueueRetriesTotal.inc({ queue: this.name });
    this.addAfter(key, this.limiter.when(key));
  }

  /** Clears key's failure history, so its next failure starts from the base delay again. */
  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** Failures recorded for key since it was last forgotten. */
  numRequeues(key: string): number {
    return this.limiter.retries(key);
  }

  /** Keys ready to be taken (not counting delayed or in-flight ones). */
  len(): number {
    return this.queue.length;
  }

  /** True while a delayed add for key is pending. */
  hasDelayed(key: string): boolean {
    return this.delayed.has(key);
  }

  /** Waits for the next key; resolves undefined once the queue is shut down and empty. */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Releases key after a worker finished with it; re-queues it if it was added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    else this.dirty.delete(key);
    this.notifyIdle();
  }

  /** Stops accepting keys and cancels delayed adds; workers drain what is queued unless told to discard it. */
  shutdown(opts: ShutdownOptions = {}): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) d.cancel();
    this.delayed.clear();
    if (opts.discardQueued === true) {
      for (const k of this.queue) this.dirty.delete(k);
      this.queue = [];
      this.setDepth();
    }
    if (this.queue.length === 0) {
      for (const g of this.getters.splice(0)) g(undefined);
    }
    this.notifyIdle();
  }

  /** Resolves when nothing is queued or in flight (after shutdown: when the drain is complete). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** True once shutdown() was called. */
  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  private push(key: string): void {
    this.enqueuedAt.set(key, this.clock.now());
    const getter = this.getters.shift();
    if (getter !== undefined) {
      this.start(key);
      getter(key);
      return;
    }
    this.queue.push(key);
    this.setDepth();
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.setDepth();
    this.start(key);
    if (this.shuttingDown && this.queue.length === 0) {
      for (const g of this.getters.splice(0)) g(undefined);
    }
    return key;
  }

  private start(key: string): void {
    this.processing.add(key);
    this.dirty.delete(key);
    const since = this.enqueuedAt.get(key);
    this.enqueuedAt.delete(key);
    if (since !== undefined) {
      this.metrics?.workqueueQueueDurationSeconds.observe({ queue: this.name }, (this.clock.now() - since) / 1000);
    }
  }

  private setDepth(): void {
    this.metrics?.workqueueDepth.set({ queue: this.name }, this.queue.length);
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.processing.size === 0;
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
