// Work-queue keys: "namespace/name" for namespaced objects, "name" for cluster-scoped ones (client-go's form).
import type { KubernetesObject } from '@kubernetes/client-node';

/** A parsed queue key. */
export interface ObjectRef {
  readonly namespace: string | undefined;
  readonly name: string;
}

/** The queue key of an object; throws if it has no name, which would be a bug upstream. */
export function keyOf(obj: KubernetesObject): string {
  const name = obj.metadata?.name;
  if (name === undefined || name === '') throw new Error(`object of kind ${obj.kind ?? '?'} has no metadata.name`);
  const ns = obj.metadata?.namespace;
  return ns === undefined || ns === '' ? name : `${ns}/${name}`;
}

/** Splits a key back into namespace and name. */
export function parseKey(key: string): ObjectRef {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Keys of the owners of obj that have the given kind (and are controllers, when controllerOnly). */
export function ownerKeys(obj: KubernetesObject, ownerKind: string, controllerOnly = true): string[] {
  const ns = obj.metadata?.namespace;
  return (obj.metadata?.ownerReferences ?? [])
    .filter((o) => o.kind === ownerKind && (!controllerOnly || o.controller === true))
    .map((o) => (ns === undefined || ns === '' ? o.name : `${ns}/${o.name}`));
}
