// The VirtualMachineBackup controller: a new job gets the finalizer and its durable workflow (ID = the
// job's UID, so starting it again attaches to the same run); deleting an in-flight job cancels the
// workflow, cleans up its children and only then releases the finalizer. The workflow writes the job's
// status itself; this controller writes only what the workflow cannot: why a workflow that threw failed.
// A workflow that threw because the workflow database itself is gone (dropped, restored empty) did not
// fail the job: the controller leaves the job and its children alone and reports the loss, so the
// process can end and a restarted operator (which recreates the database) runs the job again.
import { FINALIZER, Reasons } from '../api/constants.ts';
import type { VirtualMachineBackupObject } from '../api/types.ts';
import * as S from '../backup/job-status.ts';
import type { BackupCluster, JobRef } from '../backup/ports.ts';
import type { BackupWorkflows, JobResult } from '../backup/workflow.ts';
import { formatTime } from '../runtime/conditions.ts';
import { handleFinalizer, type FinalizerApi } from '../runtime/finalizers.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { done, type Outcome, type Reconciler } from '../runtime/reconciler.ts';

/** The workflow engine's control calls the controller needs (DBOS in production, a fake in tests). */
export interface WorkflowControl {
  /** Cancels a job's workflow and its child workflows; a finished or unknown workflow is a no-op. */
  cancel(jobUid: string): Promise<void>;
}

/** What the backup controller works with. */
export interface BackupControllerDeps {
  readonly cluster: BackupCluster;
  readonly workflows: BackupWorkflows;
  readonly control: WorkflowControl;
  readonly finalizers: FinalizerApi;
  readonly log?: Logger;
  readonly now?: () => number;
  /** Called when the workflow database is gone; the operator should end so a restart recreates it. */
  readonly onStoreLost?: (err: unknown) => void;
}

/** True once the job reached a final phase (its workflow is over). */
export function isFinished(job: VirtualMachineBackupObject): boolean {
  return job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed';
}

const KNOWN_REASONS = new Set<string>(Object.values(Reasons));

/** The summary reason for a workflow that threw: the typed error's reason, else the step it names. */
export function failureReason(err: unknown): string {
  const reason = (err as { reason?: unknown } | undefined)?.reason;
  if (typeof reason === 'string' && KNOWN_REASONS.has(reason)) return reason;
  const message = err instanceof Error ? err.message : String(err);
  return /transfer/i.test(message) ? Reasons.TransferFailed : Reasons.SnapshotFailed;
}

// SQLSTATEs that mean the database or DBOS's schema in it no longer exists (not a passing outage:
// DBOS itself retries connection errors): invalid_catalog_name, invalid_schema_name, undefined_table.
const STORE_LOST_CODES = new Set(['3D000', '3F000', '42P01']);

/** True if `err` (or a cause it wraps) says the workflow database or its tables do not exist. */
export function isStoreLost(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err; e && typeof e === 'object' && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && STORE_LOST_CODES.has(code)) return true;
    const message = e instanceof Error ? e.message : '';
    if (/database "[^"]*" does not exist|relation "dbos\.[^"]*" does not exist/.test(message)) return true;
  }
  return false;
}

function refOf(job: VirtualMachineBackupObject): JobRef {
  return { namespace: job.metadata.namespace ?? '', name: job.metadata.name ?? '', uid: job.metadata.uid ?? '' };
}

/** The controller's state across passes: the workflows this process is waiting on. */
export class BackupController {
  private readonly deps: BackupControllerDeps;
  private readonly log: Logger;
  private readonly watching = new Map<string, Promise<void>>();
  private readonly cancelled = new Set<string>();

  constructor(deps: BackupControllerDeps) {
    this.deps = deps;
    this.log = deps.log ?? silentLogger;
  }

  /** The reconciler to hand to the runtime's Controller. */
  readonly reconcile: Reconciler<VirtualMachineBackupObject> = async (job): Promise<Outcome> => {
    const ref = refOf(job);
    const result = await handleFinalizer({
      api: this.deps.finalizers, object: job, ref, finalizer: FINALIZER,
      cleanup: () => this.finalize(job, ref),
    });
    if (result === 'finalized' || isFinished(job)) return done();
    if (!this.watching.has(ref.uid)) await this.start(ref);
    return done();
  };

  /** Resolves once every workflow this controller watches has ended (tests, graceful stop). */
  async idle(): Promise<void> {
    await Promise.all([...this.watching.values()]);
  }

  private async finalize(job: VirtualMachineBackupObject, ref: JobRef): Promise<void> {
    if (!isFinished(job)) {
      // Cancel first: a running workflow would otherwise create children behind the cleanup's back.
      this.cancelled.add(ref.uid);
      await this.deps.control.cancel(ref.uid);
    }
    await this.deps.cluster.cleanup(ref, { keepSnapshots: isFinished(job) });
  }

  private async start(ref: JobRef): Promise<void> {
    const handle = await this.deps.workflows.start(ref).catch((err: unknown) => {
      if (isStoreLost(err)) this.storeLost(ref, err);
      throw err;
    });
    const watched = handle.getResult().then(
      (r: JobResult) => this.log.info('backup job ended', { job: `${ref.namespace}/${ref.name}`, phase: r.phase }),
      (err: unknown) => this.recordFailure(ref, err),
    ).catch((err: unknown) => this.log.error('recording a failed backup job', { job: `${ref.namespace}/${ref.name}`, error: err }))
      .finally(() => this.watching.delete(ref.uid));
    this.watching.set(ref.uid, watched);
  }

  private storeLost(ref: JobRef, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.log.error('the workflow database is gone; the job is left as it is for a restarted operator', { job: `${ref.namespace}/${ref.name}`, error: message });
    this.deps.onStoreLost?.(err);
  }

  private async recordFailure(ref: JobRef, err: unknown): Promise<void> {
    if (this.cancelled.has(ref.uid)) return;
    // Not the job's failure: its children stay for the rerun to adopt, and its status is not touched.
    if (isStoreLost(err)) return this.storeLost(ref, err);
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn('backup workflow failed', { job: `${ref.namespace}/${ref.name}`, error: message });
    await this.deps.cluster.cleanup(ref, { keepSnapshots: false });
    const now = this.deps.now ?? Date.now;
    await this.deps.cluster.writeStatus(ref, S.failed(failureReason(err), message.slice(0, 4000), formatTime(now())));
  }
}
