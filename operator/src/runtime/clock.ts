// Time as a narrow interface, so queue delays, backoff and lease expiry are testable without waiting.

/** Cancels a timer set through a Clock; calling it after the timer fired is harmless. */
export type CancelTimer = () => void;

/** The runtime's only view of time: the current instant and one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs fn once after ms milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): CancelTimer;
}

/** The wall clock backed by Date.now and setTimeout; timers never keep the process alive. */
export const realClock: Clock = Object.freeze({
  now: (): number => Date.now(),
  setTimer: (ms: number, fn: () => void): CancelTimer => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
});

/** Resolves after ms on the given clock, or rejects early with the signal's reason when it aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(signal?.reason as Error);
    };
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Settles like promise, or rejects with timeoutError() if it has not settled after ms on the clock. */
export function withTimeout<T>(clock: Clock, promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = clock.setTimer(ms, () => reject(timeoutError()));
    promise.then(
      (v) => {
        cancel();
        resolve(v);
      },
      (err: unknown) => {
        cancel();
        reject(err as Error);
      },
    );
  });
}

interface PendingTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** A manual clock for tests: time moves only when advance() is called, firing due timers in order. */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: PendingTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.current = start;
  }

  /** Returns the fake current time. */
  now(): number {
    return this.current;
  }

  /** Schedules fn at now + ms on the fake timeline. */
  setTimer(ms: number, fn: () => void): CancelTimer {
    const timer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Number of timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by ms, firing every timer that falls due (including ones set while firing). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = next.at;
      next.fn();
    }
    this.current = target;
  }

  private nextDue(target: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers) {
      if (t.at > target) continue;
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
