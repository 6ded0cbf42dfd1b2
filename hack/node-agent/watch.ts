// Informers that survive errors: client-node's informer stops for good on any error (a CRD that was
// just created answers 429 "storage is (re)initializing", a watch can be cut), so each one here is
// restarted after a delay until the agent stops it.
import { makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Rest } from './rest.ts';
import type { Log } from './log.ts';

/** What the agent needs from one watched resource: events plus the cache. */
export type Watched<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

const RESTART_DELAY_MS = 1000;

/** What the agent calls for each add/update/delete of a watched resource. */
export interface Handlers<T> {
  readonly onChange: (obj: T) => void;
  readonly onDelete?: (obj: T) => void;
}

/** The clients and log every watch uses. */
export interface WatchContext {
  readonly kc: KubeConfig;
  readonly rest: Rest;
  readonly log: Log;
}

/** Starts an informer on a collection path (e.g. /api/v1/pods) that restarts itself after errors. */
export function watchResource<T extends KubernetesObject>(
  ctx: WatchContext,
  path: string,
  handlers: Handlers<T>,
): { informer: Watched<T>; stop: () => Promise<void> } {
  const { kc, rest, log } = ctx;
  const informer = makeInformer<T>(kc, path, () => rest.get<KubernetesListObject<T>>(path));
  informer.on('add', handlers.onChange);
  informer.on('update', handlers.onChange);
  if (handlers.onDelete) informer.on('delete', handlers.onDelete);
  let stopped = false;
  const restart = (err?: unknown): void => {
    if (stopped) return;
    log.debug(`watch ${path} stopped (${String((err as Error | undefined)?.message ?? err)}); restarting`);
    setTimeout(() => {
      if (!stopped) informer.start().catch(restart);
    }, RESTART_DELAY_MS);
  };
  informer.on('error', restart);
  informer.start().catch(restart);
  return {
    informer,
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}
