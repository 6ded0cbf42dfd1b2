// The few API patterns every step of a backup job uses: read-or-undefined, create-or-adopt by
// deterministic name (refusing an object that is not ours), and waiting for a pod to terminate.
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { TerminalError, httpStatusOf, isConflict, isNotFound } from '../../runtime/errors.ts';
import type { JobRef } from '../ports.ts';
import { podEnd, type PodEnd } from './results.ts';
import { ownedBy } from './specs.ts';

/** Runs a read; NotFound becomes undefined. */
export async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Runs a delete; NotFound is success. */
export async function deleteIgnoringNotFound(del: () => Promise<unknown>): Promise<void> {
  try {
    await del();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Raised when a child's deterministic name is taken by an object the job does not own. */
export class NameConflictError extends TerminalError {
  readonly kind: string;
  readonly objectName: string;

  constructor(kind: string, objectName: string) {
    super(`${kind} ${objectName} already exists and does not belong to this backup job; refusing to adopt or overwrite it`, { reason: 'NameConflict' });
    this.kind = kind;
    this.objectName = objectName;
  }
}

/** Options of createOrAdopt. */
export interface CreateOrAdopt<T extends KubernetesObject> {
  readonly kind: string;
  readonly name: string;
  readonly job: JobRef;
  readonly read: () => Promise<T>;
  readonly create: () => Promise<T>;
  /** Decides whether an existing object is ours; defaults to the owner reference check. */
  readonly isOurs?: (obj: T) => boolean;
}

/**
 * Returns the existing child when the job owns it, else creates it. A same-named object that is not ours
 * raises NameConflictError: overwriting it could destroy someone's data.
 */
export async function createOrAdopt<T extends KubernetesObject>(o: CreateOrAdopt<T>): Promise<{ obj: T; adopted: boolean }> {
  const isOurs = o.isOurs ?? ((x: T): boolean => ownedBy(x, o.job));
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await readOrUndefined(o.read);
    if (existing !== undefined) {
      if (!isOurs(existing)) throw new NameConflictError(o.kind, o.name);
      return { obj: existing, adopted: true };
    }
    try {
      return { obj: await o.create(), adopted: false };
    } catch (err) {
      // Created concurrently (another replica, or a retried step): read it back and judge it like any other.
      if (!isConflict(err)) throw err;
    }
  }
  throw new Error(`${o.kind} ${o.name}: create and read kept racing`);
}

/** Options of waitForPodEnd. */
export interface WaitForPod {
  readonly read: () => Promise<V1Pod | undefined>;
  readonly timeoutMs: number;
  /** How long the pod may stay Pending (unscheduled, volumes not ready) before the wait gives up; default timeoutMs. */
  readonly pendingTimeoutMs?: number;
  /** What the pod does, for the timeout message. */
  readonly what: string;
  readonly signal?: AbortSignal;
  /** Called after each look at the pod while it has not ended (e.g. to relay its progress); must not throw. */
  readonly onRunning?: () => Promise<void>;
}

/** Why a pod has not started yet (phase Pending), or undefined once it runs. */
export function pendingReason(pod: V1Pod): string | undefined {
  if (pod.status?.phase !== undefined && pod.status.phase !== 'Pending') return undefined;
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return [waiting?.reason, waiting?.message, unscheduled?.message].filter(Boolean).join(': ') || 'Pending';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls the pod with backoff (250 ms doubling to 2 s) until it terminates, disappears, or the timeout passes. */
export async function waitForPodEnd(o: WaitForPod): Promise<Exclude<PodEnd, { state: 'running' }> | { state: 'gone' } | { state: 'timeout'; pending: string | undefined }> {
  const started = Date.now();
  const deadline = started + o.timeoutMs;
  const pendingDeadline = started + (o.pendingTimeoutMs ?? o.timeoutMs);
  let delay = 250;
  for (;;) {
    o.signal?.throwIfAborted();
    const pod = await o.read();
    if (pod === undefined) return { state: 'gone' };
    const end = podEnd(pod);
    if (end.state !== 'running') return end;
    const pending = pendingReason(pod);
    if (Date.now() >= deadline || (pending !== undefined && Date.now() >= pendingDeadline)) return { state: 'timeout', pending };
    if (pending === undefined) await o.onRunning?.();
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
    delay = Math.min(delay * 2, 2000);
  }
}

const RETRY_HTTP = new Set([429, 500, 502, 503, 504]);
const RETRY_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** True for an API error that another try may not meet: throttling, a 5xx, a dropped connection. */
export function isRetryable(err: unknown): boolean {
  const status = httpStatusOf(err);
  if (status !== undefined) return RETRY_HTTP.has(status);
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && RETRY_NET.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs an idempotent step again after a retryable API error (4 more tries, 0.5 s doubling). Every
 * BackupCluster method adopts what an earlier try created, so repeating a whole method is safe; without
 * this, one apiserver blip would fail a job that has been running for an hour.
 */
export async function retrying<T>(fn: () => Promise<T>, opts: { attempts?: number; baseMs?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !isRetryable(err)) throw err;
      await sleep((opts.baseMs ?? 500) * 2 ** (i - 1));
    }
  }
}
