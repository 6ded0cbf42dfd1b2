// The runtime's typed errors and the one classifier that decides control flow from any thrown value.

/** How the controller treats a failed reconcile. */
export type ErrorClass = 'transient' | 'terminal' | 'prerequisite-missing';

/** Options shared by the typed errors: the underlying cause and, for terminal errors, a condition reason. */
export interface TypedErrorOptions {
  readonly cause?: unknown;
  /** CamelCase reason for the summary condition and the Warning event. */
  readonly reason?: string;
  /** For prerequisite-missing: how long to wait before looking again even without an event. */
  readonly retryAfterMs?: number;
}

/** Base of the typed errors; `errorClass` is what the classifier reads. */
export abstract class ControllerError extends Error {
  abstract readonly errorClass: ErrorClass;
  readonly reason: string | undefined;

  constructor(message: string, options: TypedErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options.reason;
  }
}

/** A failure that may go away by itself (API unavailable, conflict, timeout): retry with per-key backoff. */
export class TransientError extends ControllerError {
  readonly errorClass = 'transient';
  override readonly name = 'TransientError';
}

/** A failure retrying cannot fix (invalid spec, corrupt data): set the summary condition False and stop. */
export class TerminalError extends ControllerError {
  readonly errorClass = 'terminal';
  override readonly name = 'TerminalError';
}

/** Something this object needs does not exist yet (vault, secret, snapshot class): wait for it calmly. */
export class PrerequisiteMissingError extends ControllerError {
  readonly errorClass = 'prerequisite-missing';
  override readonly name = 'PrerequisiteMissingError';
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: TypedErrorOptions = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Reads the HTTP status of a client-node ApiException, a Watch error or a plain object carrying one. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** True when the API answered 404 Not Found. */
export function isNotFound(err: unknown): boolean {
  return httpStatusOf(err) === 404;
}

/** True when the API answered 409 Conflict (stale resourceVersion, or AlreadyExists on create). */
export function isConflict(err: unknown): boolean {
  return httpStatusOf(err) === 409;
}

// 400 Bad Request and 422 Invalid mean the request itself is wrong; sending it again cannot succeed.
const TERMINAL_HTTP = new Set([400, 405, 415, 422]);

/**
 * Classifies any thrown value: typed errors say what they are; API errors by status; anything else
 * (network resets, timeouts, bugs) is transient so it is retried with backoff rather than dropped.
 */
export function classifyError(err: unknown): ErrorClass {
  if (err instanceof ControllerError) return err.errorClass;
  const status = httpStatusOf(err);
  if (status !== undefined && TERMINAL_HTTP.has(status)) return 'terminal';
  return 'transient';
}

/** Wraps a cause with what was being done, keeping its class when it already has one. */
export function wrapError(doing: string, cause: unknown): ControllerError {
  const message = `${doing}: ${cause instanceof Error ? cause.message : String(cause)}`;
  const cls = classifyError(cause);
  const reason = cause instanceof ControllerError ? cause.reason : undefined;
  if (cls === 'terminal') return new TerminalError(message, { cause, reason });
  if (cls === 'prerequisite-missing') {
    const retryAfterMs = cause instanceof PrerequisiteMissingError ? cause.retryAfterMs : undefined;
    return new PrerequisiteMissingError(message, { cause, reason, retryAfterMs });
  }
  return new TransientError(message, { cause, reason });
}
