// The informer's ListWatchSource backed by the real API: a caller-supplied list call plus client-node's Watch.
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, Watch } from '@kubernetes/client-node';
import { isNotFound } from './errors.ts';
import type { ListResult, ListWatchSource, WatchEvent, WatchHandle } from './informer.ts';

/** Options of an API-backed list-watch source. */
export interface ApiListWatchOptions<T extends KubernetesObject> {
  readonly kubeConfig: KubeConfig;
  /** The collection path, e.g. /apis/tresor.io/v1alpha1/namespaces/ns/virtualmachinebackups or /api/v1/pods. */
  readonly path: string;
  /** Lists the same collection (with the same selectors) through a typed client. */
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Server-side watch timeout; the server then closes normally and we resume. Default 5 to 10 min. */
  readonly timeoutSeconds?: number;
  /**
   * Stamped on listed items that lack them: the apiserver omits apiVersion/kind on items of built-in lists,
   * and Events need them in involvedObject.
   */
  readonly typeMeta?: { readonly apiVersion: string; readonly kind: string };
}

/** The collection path of a resource, namespaced when namespace is given (core group when group is ''). */
export function collectionPath(r: { group: string; version: string; plural: string; namespace?: string }): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return r.namespace === undefined ? `${base}/${r.plural}` : `${base}/namespaces/${r.namespace}/${r.plural}`;
}

/** A ListWatchSource that lists through `list` and watches `path` with bookmarks enabled. */
export function apiListWatch<T extends KubernetesObject>(opts: ApiListWatchOptions<T>): ListWatchSource<T> {
  const watch = new Watch(opts.kubeConfig);
  return {
    async list(): Promise<ListResult<T>> {
      const res = await opts.list().catch((err: unknown) => {
        // A 404 on a collection means the API itself is missing (CRD or aggregated API not installed, e.g.
        // KubeVirt): say which, since the controllers wait for this cache and the operator stays unready.
        if (isNotFound(err)) throw new Error(`${opts.path} is not served by the API server (404): install the API that provides it`, { cause: err });
        throw err;
      });
      const tm = opts.typeMeta;
      const items = tm === undefined ? res.items : res.items.map((o) => (o.kind === undefined ? { ...o, apiVersion: tm.apiVersion, kind: tm.kind } : o));
      return { items, resourceVersion: res.metadata?.resourceVersion ?? '' };
    },
    async watch(resourceVersion, onEvent, onDone): Promise<WatchHandle> {
      // Spread server-side timeouts so many informers do not all reconnect in the same second.
      const timeoutSeconds = opts.timeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
      const query: Record<string, string | number | boolean | undefined> = {
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
      };
      const ac = await watch.watch(
        opts.path,
        query,
        (type: string, object: T) => onEvent({ type, object } as WatchEvent<T>),
        onDone,
      );
      return { abort: () => ac.abort() };
    },
  };
}
