// Concurrency and bandwidth limits for uploads and downloads.

/** A counting semaphore: at most `n` holders at once, FIFO. */
export class Semaphore {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  constructor(n: number) {
    this.free = n;
  }

  /** Waits for a slot. */
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Gives a slot back (to the longest waiter first). */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

/** 0, 1, ..., n-1. */
export function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/**
 * Calls fn for each item with at most `limit` calls running; stops taking items at the first failure and
 * rethrows it once the running calls ended. Items are taken one at a time, as a slot frees up.
 */
export async function forEachBounded<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const sem = new Semaphore(limit);
  let failed: unknown;
  const inflight = new Set<Promise<void>>();
  for (const item of items) {
    await sem.acquire();
    if (failed !== undefined) break;
    const p: Promise<void> = fn(item)
      .catch((err: unknown) => {
        failed ??= err;
      })
      .finally(() => {
        sem.release();
        inflight.delete(p);
      });
    inflight.add(p);
  }
  await Promise.all(inflight);
  if (failed !== undefined) throw failed;
}

/** A token bucket limiting bytes per second (burst of one second); a limit of 0 means unlimited. */
export class Bandwidth {
  private readonly rate: number;
  private nextFree = 0;

  constructor(bytesPerSecond: number) {
    this.rate = bytesPerSecond;
  }

  /** Waits until `bytes` may be sent. */
  async take(bytes: number): Promise<void> {
    if (this.rate <= 0) return;
    const now = Date.now();
    const start = Math.max(now - 1000, this.nextFree);
    this.nextFree = start + (bytes / this.rate) * 1000;
    const wait = this.nextFree - now;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * Parses sizes like 1048576, 512K, 64M, 64Mi, 1GiB (binary units: K, Ki and KiB all mean 1024) into
 * bytes. Kubernetes quantities in a policy (where M means 10^6) are converted by the operator first.
 */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])i?)?B?$/i.exec(text.trim());
  if (!m) throw new Error(`bad size '${text}': use a number with an optional K, M, G or T suffix (Ki, Mi, Gi, Ti also work)`);
  const pow = ' KMGT'.indexOf((m[2] || ' ').toUpperCase());
  return Math.round(Number(m[1]) * 1024 ** pow);
}
