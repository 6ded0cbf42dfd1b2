// The one module that writes custom-resource status: re-read, compute, skip if unchanged, merge-patch
// with the read resourceVersion as precondition, and on 409 Conflict start over from a fresh read.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { isConflict, isNotFound, TransientError } from './errors.ts';
import type { ObjectRef } from './keys.ts';
import type { RuntimeMetrics } from './metrics.ts';

/** What the status writer reads back: enough to compute a status and to precondition the write. */
export interface StatusSnapshot<S> {
  readonly resourceVersion: string;
  readonly generation: number | undefined;
  readonly status: S | undefined;
}

/** The status writer's narrow view of the API (a fake in unit tests, custom objects in production). */
export interface StatusApi<S> {
  /** Reads the object's current status and resourceVersion; undefined when the object is gone. */
  read(ref: ObjectRef): Promise<StatusSnapshot<S> | undefined>;
  /** Applies a JSON merge patch to status, failing with 409 when the object is no longer at resourceVersion. */
  patchStatus(ref: ObjectRef, resourceVersion: string, patch: unknown): Promise<void>;
}

/** Computes the desired status from the fresh snapshot; returning the input status means "no change". */
export type StatusMutation<S> = (current: StatusSnapshot<S>) => S;

/** Options of writeStatus. */
export interface WriteStatusOptions<S> {
  readonly api: StatusApi<S>;
  readonly ref: ObjectRef;
  readonly mutate: StatusMutation<S>;
  /** Read-compute-write rounds before giving up on conflicts; default 5. */
  readonly maxAttempts?: number;
  readonly metrics?: RuntimeMetrics;
}

/** What writeStatus did. */
export type WriteResult = 'written' | 'unchanged' | 'gone';

/** Writes status through the read-compute-patch loop; throws TransientError when conflicts persist. */
export async function writeStatus<S>(opts: WriteStatusOptions<S>): Promise<WriteResult> {
  const attempts = opts.maxAttempts ?? 5;
  let lastErr: unknown;
  for (let i = 0; i < attempts; i++) {
    const result = await writeOnce(opts).catch((err: unknown) => {
      if (!isConflict(err)) throw err;
      lastErr = err;
      return 'conflict' as const;
    });
    opts.metrics?.statusWritesTotal.inc({ result });
    if (result !== 'conflict') return result;
  }
  const where = `${opts.ref.namespace ?? ''}/${opts.ref.name}`;
  throw new TransientError(`writing status of ${where}: still conflicting after ${attempts} attempts`, { cause: lastErr });
}

async function writeOnce<S>(opts: WriteStatusOptions<S>): Promise<WriteResult> {
  const current = await opts.api.read(opts.ref);
  if (current === undefined) return 'gone';
  const desired = opts.mutate(current);
  if (deepEqual(current.status, desired)) return 'unchanged';
  try {
    await opts.api.patchStatus(opts.ref, current.resourceVersion, { status: mergePatch(current.status, desired) });
  } catch (err) {
    // Deleted between our read and our write: nothing left to report on.
    if (isNotFound(err)) return 'gone';
    throw err;
  }
  return 'written';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
}

/** The RFC 7386 merge patch turning `from` into `to`: changed keys set, removed keys null, arrays whole. */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (!isPlainObject(from) || !isPlainObject(to)) return to ?? null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(to)) {
    if (v !== undefined && !deepEqual(from[k], v)) out[k] = mergePatch(from[k], v);
  }
  for (const k of Object.keys(from)) {
    if (from[k] !== undefined && to[k] === undefined) out[k] = null;
  }
  return out;
}

/** Identifies a custom resource type for the custom-objects status API. */
export interface CustomResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

interface CustomObject {
  metadata?: { resourceVersion?: string; generation?: number };
  status?: unknown;
}

/** A StatusApi for namespaced custom resources with a status subresource. */
export function customObjectStatusApi<S>(kc: KubeConfig, type: CustomResourceType): StatusApi<S> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const mergePatchOpts = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const params = (ref: ObjectRef): { group: string; version: string; plural: string; namespace: string; name: string } => ({
    ...type,
    namespace: ref.namespace ?? '',
    name: ref.name,
  });
  return {
    async read(ref: ObjectRef): Promise<StatusSnapshot<S> | undefined> {
      try {
        const obj = (await api.getNamespacedCustomObject(params(ref))) as CustomObject;
        return { resourceVersion: obj.metadata?.resourceVersion ?? '', generation: obj.metadata?.generation, status: obj.status as S | undefined };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async patchStatus(ref: ObjectRef, resourceVersion: string, patch: unknown): Promise<void> {
      // resourceVersion in a merge patch is a precondition: the apiserver answers 409 if the object moved on.
      const body = { ...(patch as object), metadata: { resourceVersion } };
      await api.patchNamespacedCustomObjectStatus({ ...params(ref), body }, mergePatchOpts);
    },
  };
}
