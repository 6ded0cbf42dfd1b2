// One helper for finalizers: add before creating anything external, run idempotent cleanup on deletion,
// remove last. Writes are merge patches of metadata.finalizers preconditioned on resourceVersion (a merge
// patch replaces the whole list, so without the precondition we could drop another controller's finalizer).
import { type KubeConfig, KubernetesObjectApi, type KubernetesObject, PatchStrategy } from '@kubernetes/client-node';
import { isConflict, isNotFound, TransientError } from './errors.ts';
import type { ObjectRef } from './keys.ts';

/** What the finalizer helper reads back. */
export interface MetadataSnapshot {
  readonly resourceVersion: string;
  readonly finalizers: readonly string[];
  readonly deleting: boolean;
}

/** The finalizer helper's narrow view of the API. */
export interface FinalizerApi {
  /** Reads the object's finalizers; undefined when it is gone. */
  read(ref: ObjectRef): Promise<MetadataSnapshot | undefined>;
  /** Sets metadata.finalizers, failing with 409 when the object is no longer at resourceVersion. */
  patchFinalizers(ref: ObjectRef, resourceVersion: string, finalizers: readonly string[]): Promise<void>;
}

/** Result of ensureFinalizer. */
export type EnsureResult = 'added' | 'present' | 'deleting' | 'gone';
/** Result of removeFinalizer. */
export type RemoveResult = 'removed' | 'absent' | 'gone';

/** True when obj carries the finalizer. */
export function hasFinalizer(obj: KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/** True once deletion was requested (finalizers are now holding the object). */
export function isBeingDeleted(obj: KubernetesObject): boolean {
  return obj.metadata?.deletionTimestamp !== undefined && obj.metadata.deletionTimestamp !== null;
}

const ATTEMPTS = 5;

async function update(api: FinalizerApi, ref: ObjectRef, change: (s: MetadataSnapshot) => readonly string[] | string): Promise<string> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const cur = await api.read(ref);
    if (cur === undefined) return 'gone';
    const next = change(cur);
    if (typeof next === 'string') return next;
    try {
      await api.patchFinalizers(ref, cur.resourceVersion, next);
      return 'changed';
    } catch (err) {
      if (isNotFound(err)) return 'gone';
      if (!isConflict(err)) throw err;
    }
  }
  throw new TransientError(`updating finalizers of ${ref.namespace ?? ''}/${ref.name}: still conflicting after ${ATTEMPTS} attempts`);
}

/** Adds the finalizer unless present; refuses (returns "deleting") on an object already being deleted. */
export async function ensureFinalizer(api: FinalizerApi, ref: ObjectRef, finalizer: string): Promise<EnsureResult> {
  const r = await update(api, ref, (s) => {
    if (s.finalizers.includes(finalizer)) return 'present';
    // The apiserver forbids new finalizers once deletion started; cleanup must not depend on one we never added.
    if (s.deleting) return 'deleting';
    return [...s.finalizers, finalizer];
  });
  return r === 'changed' ? 'added' : (r as EnsureResult);
}

/** Removes the finalizer if present; a missing object or finalizer is success. */
export async function removeFinalizer(api: FinalizerApi, ref: ObjectRef, finalizer: string): Promise<RemoveResult> {
  const r = await update(api, ref, (s) => (s.finalizers.includes(finalizer) ? s.finalizers.filter((f) => f !== finalizer) : 'absent'));
  return r === 'changed' ? 'removed' : (r as RemoveResult);
}

/** Options of handleFinalizer. */
export interface HandleFinalizerOptions {
  readonly api: FinalizerApi;
  readonly object: KubernetesObject;
  readonly ref: ObjectRef;
  readonly finalizer: string;
  /** Idempotent cleanup of everything outside the object; must tolerate NotFound and may run more than once. */
  readonly cleanup: () => Promise<void>;
}

/**
 * The reconcile prologue: on a live object make sure the finalizer is there ("continue"); on an object
 * being deleted run cleanup, then remove the finalizer ("finalized": the reconciler returns done).
 */
export async function handleFinalizer(opts: HandleFinalizerOptions): Promise<'continue' | 'finalized'> {
  if (!isBeingDeleted(opts.object)) {
    const r = await ensureFinalizer(opts.api, opts.ref, opts.finalizer);
    if (r !== 'deleting' && r !== 'gone') return 'continue';
  }
  if (hasFinalizer(opts.object, opts.finalizer)) {
    // Cleanup before removal: once the finalizer is gone the object can vanish and we lose the trigger.
    await opts.cleanup();
    await removeFinalizer(opts.api, opts.ref, opts.finalizer);
  }
  return 'finalized';
}

/** A FinalizerApi for any kind, through client-node's generic object API (discovery maps kind to resource). */
export function objectFinalizerApi(kc: KubeConfig, type: { apiVersion: string; kind: string }): FinalizerApi {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const header = (ref: ObjectRef): KubernetesObject & { metadata: { name: string; namespace: string } } => ({
    ...type,
    metadata: { name: ref.name, namespace: ref.namespace ?? '' },
  });
  return {
    async read(ref: ObjectRef): Promise<MetadataSnapshot | undefined> {
      try {
        const obj = await api.read(header(ref));
        return {
          resourceVersion: obj.metadata?.resourceVersion ?? '',
          finalizers: obj.metadata?.finalizers ?? [],
          deleting: isBeingDeleted(obj),
        };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async patchFinalizers(ref: ObjectRef, resourceVersion: string, finalizers: readonly string[]): Promise<void> {
      const h = header(ref);
      const spec = { ...h, metadata: { ...h.metadata, resourceVersion, finalizers: [...finalizers] } };
      await api.patch(spec, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
    },
  };
}
