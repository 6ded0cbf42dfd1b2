// Rate limiters for the work queue, after client-go's: per-key exponential backoff, capped by an overall bucket.
import type { Clock } from './clock.ts';

/** Decides how long a key must wait before its next retry. */
export interface RateLimiter {
  /** Records one more failure of key and returns the delay in ms before it may be retried. */
  when(key: string): number;
  /** Clears the failure history of key after it succeeded. */
  forget(key: string): void;
  /** How many times key has failed since it was last forgotten. */
  retries(key: string): number;
}

/** Options of the per-key exponential backoff. */
export interface ExponentialOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Per-key exponential backoff: base * 2^failures, capped at max; forgetting a key resets it. */
export class ItemExponentialRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();
  private readonly opts: ExponentialOptions;

  constructor(opts: ExponentialOptions) {
    this.opts = opts;
  }

  /** Returns base * 2^n for the key's nth failure, capped. */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // Cap the exponent before exponentiating so a long-failing key cannot overflow to Infinity.
    return Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(n, 52));
  }

  /** Resets the key's backoff. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Failures of key since it was last forgotten. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/** Options of the overall token bucket. */
export interface BucketOptions {
  readonly qps: number;
  readonly burst: number;
  readonly clock: Clock;
}

/** An overall token bucket shared by all keys, so a mass failure cannot hammer the API server. */
export class BucketRateLimiter implements RateLimiter {
  private readonly opts: BucketOptions;
  private tokens: number;
  private last: number;

  constructor(opts: BucketOptions) {
    this.opts = opts;
    this.tokens = opts.burst;
    this.last = opts.clock.now();
  }

  /** Reserves one token and returns how long until it is available (0 while the burst lasts). */
  when(_key: string): number {
    const now = this.opts.clock.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.last) / 1000) * this.opts.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.opts.qps) * 1000);
  }

  /** The bucket keeps no per-key state. */
  forget(_key: string): void {}

  /** The bucket keeps no per-key state. */
  retries(_key: string): number {
    return 0;
  }
}

/** Combines limiters: the delay is the longest any of them asks for. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(limiters: readonly RateLimiter[]) {
    this.limiters = limiters;
  }

  /** The largest delay of all limiters (each records the failure). */
  when(key: string): number {
    return Math.max(0, ...this.limiters.map((l) => l.when(key)));
  }

  /** Forgets key in every limiter. */
  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  /** The largest retry count any limiter holds for key. */
  retries(key: string): number {
    return Math.max(0, ...this.limiters.map((l) => l.retries(key)));
  }
}

/** Defaults: per key 200 ms doubling to 5 min; overall 10 retries/s with a burst of 100 (client-go's bucket). */
export function defaultRateLimiter(clock: Clock): RateLimiter {
  return new MaxOfRateLimiter([
    new ItemExponentialRateLimiter({ baseMs: 200, maxMs: 5 * 60_000 }),
    new BucketRateLimiter({ qps: 10, burst: 100, clock }),
  ]);
}
