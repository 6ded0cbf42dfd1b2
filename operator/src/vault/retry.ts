// Retries of transient store errors with capped exponential backoff and jitter, for minutes rather than the
// SDK's few seconds (ADR 0016): throttling (503 SlowDown, 429), 5xx, timeouts and dropped connections.

/** How long and how fast to retry. */
export interface RetryPolicy {
  /** Give up when the next attempt would start after this long since the first. */
  readonly deadlineMs: number;
  readonly baseMs: number;
  readonly capMs: number;
  /** Shorter deadline for an endpoint that refuses connections or does not resolve (a typo, not an outage). */
  readonly unreachableDeadlineMs?: number;
}

/** Default: keep trying for 10 minutes, waits growing from 0.5 s to 30 s. */
export const DEFAULT_RETRY: RetryPolicy = { deadlineMs: 10 * 60_000, baseMs: 500, capMs: 30_000, unreachableDeadlineMs: 20_000 };

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);
const TRANSIENT_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'InternalError', 'ServiceUnavailable', 'RequestTimeTooSkewed']);

/** True for errors worth another attempt: throttling, server errors, timeouts, network failures. */
export function isTransient(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown } | undefined;
  if (!e) return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  if (e.$retryable) return true;
  return TRANSIENT_NAMES.has(e.name ?? '') || TRANSIENT_CODES.has(e.code ?? '') || isUnreachable(err);
}

function isUnreachable(err: unknown): boolean {
  return UNREACHABLE_CODES.has((err as { code?: string } | undefined)?.code ?? '');
}

/** Runs fn until it succeeds, fails with a non-transient error, or the policy's deadline passes. */
export async function withRetry<T>(what: string, fn: () => Promise<T>, p: RetryPolicy = DEFAULT_RETRY, signal?: AbortSignal): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const wait = Math.min(p.capMs, p.baseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
      const deadline = isUnreachable(err) ? Math.min(p.deadlineMs, p.unreachableDeadlineMs ?? p.deadlineMs) : p.deadlineMs;
      if (!isTransient(err) || Date.now() - started + wait > deadline || signal?.aborted) {
        if (attempt === 0 || !isTransient(err)) throw err;
        throw new Error(`${what}: still failing after ${attempt + 1} attempts over ${Math.round((Date.now() - started) / 1000)} s: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
