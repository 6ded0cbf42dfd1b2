// The VirtualMachineBackup controller: a new job gets the finalizer and its durable workflow (ID = the
// job's UID, so starting it again attaches to the same run); deleting an in-flight job cancels the
// workflow, cleans up its children and only then releases the finalizer. The workflow writes the job's
// status itself; this controller writes only what the workflow cannot: why a workflow that threw failed.
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
    const handle = await this.deps.workflows.start(ref);
    const watched = handle.getResult().then(
      (r: JobResult) => this.log.info('backup job ended', { job: `${ref.namespace}/${ref.name}`, phase: r.phase }),
      (err: unknown) => this.recordFailure(ref, err),
    ).catch((err: unknown) => this.log.error('recording a failed backup job', { job: `${ref.namespace}/${ref.name}`, error: err }))
      .finally(() => this.watching.delete(ref.uid));
    this.watching.set(ref.uid, watched);
  }

  private async recordFailure(ref: JobRef, err: unknown): Promise<void> {
    if (this.cancelled.has(ref.uid)) return;
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn('backup workflow failed', { job: `${ref.namespace}/${ref.name}`, error: message });
    await this.deps.cluster.cleanup(ref, { keepSnapshots: false });
    const now = this.deps.now ?? Date.now;
    await this.deps.cluster.writeStatus(ref, S.failed(failureReason(err), message.slice(0, 4000), formatTime(now())));
  }
}
