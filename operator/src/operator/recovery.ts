// Taking over a previous leader's workflows. DBOS recovers, at launch, only the PENDING workflows of its
// own executor ID and application version; a replica that replaces a dead leader (a new pod, a new
// name) must re-enqueue the old leader's PENDING workflows itself, keeping each on its queue so the
// cluster-wide limits still hold. Only the previous lease holder's workflows are taken: standby replicas
// also run queued steps, and their in-flight work is not ours to restart.
import { DBOS } from '@dbos-inc/dbos-sdk';
import type { LeaseApi, LeaseSnapshot } from '../runtime/leader.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';

/** A LeaseApi that remembers the last holder other than `self` it saw (the leader we may replace). */
export class HolderTrackingLease implements LeaseApi {
  private readonly inner: LeaseApi;
  private readonly self: string;
  private previous: string | undefined;

  constructor(inner: LeaseApi, self: string) {
    this.inner = inner;
    this.self = self;
  }

  /** The last holder identity other than ours, if any was seen. */
  previousHolder(): string | undefined {
    return this.previous;
  }

  /** Reads the lease, noting its holder. */
  async get(): Promise<LeaseSnapshot | undefined> {
    const s = await this.inner.get();
    const holder = s?.record.holderIdentity;
    if (holder && holder !== this.self) this.previous = holder;
    return s;
  }

  /** Creates the lease. */
  create(record: Parameters<LeaseApi['create']>[0]): Promise<LeaseSnapshot> {
    return this.inner.create(record);
  }

  /** Updates the lease. */
  update(resourceVersion: string, record: Parameters<LeaseApi['update']>[1]): Promise<LeaseSnapshot> {
    return this.inner.update(resourceVersion, record);
  }
}

/** Re-enqueues the PENDING workflows of `executorId` (this app version), each on its own queue. */
export async function recoverExecutor(executorId: string, appVersion: string, log: Logger = silentLogger): Promise<string[]> {
  const pending = await DBOS.listWorkflows({ status: 'PENDING', executorId, applicationVersion: appVersion });
  const ids: string[] = [];
  for (const w of pending) {
    await DBOS.resumeWorkflow(w.workflowID, w.queueName ? { queueName: w.queueName } : undefined);
    ids.push(w.workflowID);
  }
  if (ids.length > 0) log.info('recovered workflows of the previous leader', { executorId, workflows: ids.length });
  return ids;
}
