// Watching the workflow database for loss. DBOS rides out an outage by itself (it retries connection
// errors in its system-database calls until the server is back), but a database that was dropped or
// restored empty is not an outage: workflows then either fail with "database does not exist" or hang on
// calls that will never succeed, and new jobs cannot start. The process has to end so that a restarted
// operator recreates the database at launch and runs every unfinished job again; its steps adopt the
// children already made. This probe finds the loss even when no workflow call happens to fail.
import { isStoreLost } from '../controllers/backup.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';

/** What the watch needs. */
export interface StoreWatchOptions {
  /** One cheap read of the workflow database (resolves while an outage lasts only once it is over). */
  readonly probe: () => Promise<unknown>;
  /** Called once when the database is gone. */
  readonly onLost: (err: unknown) => void;
  readonly intervalMs: number;
  readonly log?: Logger;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(done, ms);
  function done(): void {
    clearTimeout(t);
    signal.removeEventListener('abort', done);
    resolve();
  }
  signal.addEventListener('abort', done, { once: true });
});

/** Probes the workflow database every `intervalMs` until `signal` aborts or the database is found gone. */
export async function watchWorkflowStore(opts: StoreWatchOptions, signal: AbortSignal): Promise<void> {
  const log = opts.log ?? silentLogger;
  while (!signal.aborted) {
    await sleep(opts.intervalMs, signal);
    if (signal.aborted) return;
    try {
      await opts.probe();
    } catch (err) {
      if (isStoreLost(err)) {
        log.error('the workflow database is gone; ending so a restarted operator recreates it', { error: err instanceof Error ? err.message : String(err) });
        opts.onLost(err);
        return;
      }
      log.warn('probing the workflow database', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}
