// Wiring: informer events to controller queues, and the manager that starts informers, waits for their
// caches, and runs the controllers only while this replica leads.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer } from './informer.ts';
import { keyOf, ownerKeys } from './keys.ts';
import type { LeaderElector } from './leader.ts';
import { silentLogger, type Logger } from './log.ts';
import type { HealthCheck } from './server.ts';

/** Maps a changed object to the queue keys it should wake. */
export type KeyMapper<T> = (obj: T) => readonly string[];

/** Enqueues keys on every add, update and delete the informer sees (by default the object's own key). */
export function enqueueOnChange<T extends KubernetesObject>(informer: Informer<T>, enqueue: (key: string) => void, map: KeyMapper<T> = (o) => [keyOf(o)]): void {
  const handler = (obj: T): void => {
    for (const key of map(obj)) enqueue(key);
  };
  informer.on('add', handler);
  informer.on('update', handler);
  informer.on('delete', handler);
}

/** A KeyMapper waking the controlling owner of the given kind (children → their parent's queue). */
export function toOwner<T extends KubernetesObject>(ownerKind: string): KeyMapper<T> {
  return (obj) => ownerKeys(obj, ownerKind);
}

/** The part of an informer the manager drives. */
export interface ManagedInformer {
  readonly resource: string;
  start(): void;
  stop(): Promise<void>;
  waitForSync(): Promise<void>;
  hasSynced(): boolean;
  /** The last list/watch error since the last successful list, if any (shown by the readiness probe). */
  lastError?(): string | undefined;
}

/** The part of a controller the manager drives. */
export interface ManagedController {
  readonly name: string;
  run(signal: AbortSignal): Promise<void>;
}

/** Options of runManager. */
export interface ManagerOptions {
  readonly informers: readonly ManagedInformer[];
  readonly controllers: readonly ManagedController[];
  /** Without an elector the controllers run at once (single replica, tests). */
  readonly elector?: LeaderElector;
  readonly log?: Logger;
}

/** Why runManager returned: asked to stop, or leadership was lost (the process should exit and restart). */
export type ManagerExit = 'stopped' | 'lost-leadership';

/**
 * Starts every informer (standbys keep warm caches too), waits until all have synced, then runs the
 * controllers while leading. Work queues do not restart, so after losing leadership it returns and the
 * caller exits; Kubernetes restarts the pod as a fresh follower.
 */
export async function runManager(opts: ManagerOptions, signal: AbortSignal): Promise<ManagerExit> {
  const log = opts.log ?? silentLogger;
  for (const inf of opts.informers) inf.start();
  try {
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    // Controllers must not act on a half-filled cache: "not in cache" would read as "deleted".
    await Promise.race([Promise.all(opts.informers.map((i) => i.waitForSync())), aborted]);
    if (signal.aborted) return 'stopped';
    log.info('caches synced', { informers: opts.informers.map((i) => i.resource) });
    const runControllers = async (sig: AbortSignal): Promise<void> => {
      await Promise.all(opts.controllers.map((c) => c.run(sig)));
    };
    if (opts.elector === undefined) await runControllers(signal);
    else await opts.elector.run(signal, { onStartedLeading: runControllers });
    return signal.aborted ? 'stopped' : 'lost-leadership';
  } finally {
    await Promise.all(opts.informers.map((i) => i.stop()));
  }
}

/**
 * Readiness checks: one per distinct informer, passing once its cache has synced; a failing one says why
 * (e.g. "/apis/kubevirt.io/v1/virtualmachines is not served"), since controllers wait for every cache.
 */
export function informerReadiness(informers: readonly ManagedInformer[]): HealthCheck[] {
  return [...new Set(informers)].map((i) => ({
    name: `informer-${i.resource}-synced`,
    check: () => {
      if (i.hasSynced()) return true;
      const err = i.lastError?.();
      if (err !== undefined) throw new Error(err);
      return false;
    },
  }));
}
