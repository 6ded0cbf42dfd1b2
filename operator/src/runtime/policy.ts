// The error policy: what the controller does with a key whose reconcile threw, decided from the error class.
import { classifyError, type ErrorClass, PrerequisiteMissingError } from './errors.ts';

/** Retry with the key's exponential backoff (the queue's rate limiter). */
export interface Backoff {
  readonly kind: 'backoff';
}

/** Retry after a fixed delay without growing the key's backoff. */
export interface RetryAfter {
  readonly kind: 'retry-after';
  readonly afterMs: number;
}

/** Do not retry; the object waits for its next change. */
export interface Stop {
  readonly kind: 'stop';
}

/** What to do with a failed key. */
export type ErrorAction = Backoff | RetryAfter | Stop;

/** Decides the action for an error; `retries` counts the key's failures so far. */
export type ErrorPolicy = (err: unknown, retries: number) => ErrorAction;

/** Options of the default error policy. */
export interface ErrorPolicyOptions {
  /** How often to look again for a missing prerequisite when no event announces it; default 30 s. */
  readonly prerequisiteRetryMs?: number;
}

/**
 * The default policy: transient → per-key exponential backoff; prerequisite missing → a calm fixed
 * re-check (its creation event usually wakes us first); terminal → stop.
 */
export function defaultErrorPolicy(opts: ErrorPolicyOptions = {}): ErrorPolicy {
  const prerequisiteRetryMs = opts.prerequisiteRetryMs ?? 30_000;
  return (err: unknown): ErrorAction => {
    const cls: ErrorClass = classifyError(err);
    if (cls === 'terminal') return { kind: 'stop' };
    if (cls === 'prerequisite-missing') {
      const after = err instanceof PrerequisiteMissingError ? err.retryAfterMs : undefined;
      return { kind: 'retry-after', afterMs: after ?? prerequisiteRetryMs };
    }
    return { kind: 'backoff' };
  };
}
