// Bounded workflow history in Postgres (ADR 0113): DBOS keeps every workflow's status, inputs, outputs and
// step results forever (measured ~21 rows and 18–30 KB per backup job). While leading, the operator
// deletes finished top-level workflows (with their children) that completed more than `retentionMs` ago,
// in batches, once per `intervalMs`. Only finished workflows qualify: a PENDING one is a job still to be
// run or recovered. The retention (default 7 days) is far longer than the seconds between a workflow's
// end and its job's final status, so no unfinished job can lose the workflow that would record its end.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { type Clock, realClock, sleep } from '../runtime/clock.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import type { ManagedController } from '../runtime/manager.ts';

/** The workflow store's narrow view (DBOS in production, a map in unit tests). */
export interface FinishedWorkflows {
  /** IDs of finished top-level workflows completed before `beforeMs`, oldest first, at most `limit`. */
  list(beforeMs: number, limit: number): Promise<string[]>;
  /** Deletes workflows with their child workflows. */
  delete(ids: readonly string[]): Promise<void>;
}

/** Options of workflowRetention. */
export interface WorkflowRetentionOptions {
  readonly store: FinishedWorkflows;
  readonly retentionMs: number;
  readonly intervalMs: number;
  /** Workflows per delete call; default 500. */
  readonly batch?: number;
  /** Batches per round at most (the rest waits for the next round); default 20. */
  readonly maxBatches?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
}

/** Deletes one round of expired workflows; resolves with how many were deleted. */
export async function pruneWorkflows(o: WorkflowRetentionOptions, signal?: AbortSignal): Promise<number> {
  const clock = o.clock ?? realClock;
  const batch = o.batch ?? 500;
  const cutoff = clock.now() - o.retentionMs;
  let deleted = 0;
  for (let i = 0; i < (o.maxBatches ?? 20) && !signal?.aborted; i++) {
    const ids = await o.store.list(cutoff, batch);
    if (ids.length === 0) break;
    await o.store.delete(ids);
    deleted += ids.length;
    if (ids.length < batch) break;
  }
  return deleted;
}

/** A controller (runs while leading) that prunes expired workflows every interval; errors wait for the next round. */
export function workflowRetention(o: WorkflowRetentionOptions): ManagedController {
  const log = o.log ?? silentLogger;
  return {
    name: 'workflow-retention',
    run: async (signal) => {
      while (!signal.aborted) {
        try {
          const n = await pruneWorkflows(o, signal);
          if (n > 0) log.info('finished workflows pruned', { deleted: n, olderThanHours: o.retentionMs / 3_600_000 });
        } catch (err) {
          log.warn('pruning finished workflows failed; next round will retry', { error: err });
        }
        await sleep(o.clock ?? realClock, o.intervalMs, signal).catch(() => undefined);
      }
    },
  };
}

/** Finished top-level workflows in DBOS (children go with their parent). */
export function dbosFinishedWorkflows(): FinishedWorkflows {
  return {
    list: async (beforeMs, limit) => (await DBOS.listWorkflows({
      status: ['SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'], completedBefore: new Date(beforeMs).toISOString(),
      hasParent: false, limit, loadInput: false, loadOutput: false,
    })).map((w) => w.workflowID),
    delete: (ids) => DBOS.deleteWorkflows([...ids], true),
  };
}
