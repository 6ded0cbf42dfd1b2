// A backup job as a durable DBOS workflow (workflow ID = the job's UID): observe, snapshot inside the
// freeze window, transfer every disk under cluster-wide limits, record the recovery point, clean up.
// Each step calls an idempotent BackupCluster method, so a crash at any line re-runs at most the step
// that was in flight, and that step adopts the children it had already created.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { ConditionTypes, Reasons } from '../api/constants.ts';
import { checkRequirement, decideConsistency, planSnapshot } from './consistency.ts';
import * as S from './job-status.ts';
import type { BackupCluster, DiskTransferResult, JobObservation, JobRef, TransferOutcome, VmDisk } from './ports.ts';
import { transferAttempts } from './retries.ts';

/** DBOS queue names: the cluster-wide limits on VMs frozen at once and disks transferred at once. */
export const QUEUES = { freezes: 'tresor-freezes', transfers: 'tresor-transfers' } as const;

/** Cluster-wide limits, from the operator's configuration. */
export interface BackupLimits {
  readonly maxConcurrentFreezes: number;
  readonly maxConcurrentTransfers: number;
  /** Transfer pods started per disk before the job fails (the first run counts); caps the policy's maxRetries + 1. */
  readonly transferAttempts: number;
  /** One namespace's share of each limit (review M8); default half of it, rounded up (namespaceShare). */
  readonly maxFreezesPerNamespace?: number;
  readonly maxTransfersPerNamespace?: number;
}

/**
 * How many of a cluster-wide `limit` one namespace may hold: `share` if set (capped at the limit), else
 * half, rounded up. The queues are partitioned by namespace and DBOS visits partitions in a new random
 * order on every poll, so with the cap every namespace that waits gets slots (ADR 0093).
 */
export function namespaceShare(limit: number, share: number | undefined): number {
  return Math.max(1, Math.min(limit, share ?? Math.ceil(limit / 2)));
}

/** How a job ended. */
export type JobResult = { readonly phase: 'Succeeded'; readonly recoveryPoint: string } | { readonly phase: 'Failed'; readonly reason: string; readonly message: string };

/** Starts backup workflows; obtained from registerBackupWorkflows before DBOS.launch. */
export interface BackupWorkflows {
  /** Starts (or, for a job already started, attaches to) the workflow of one job. */
  start(job: JobRef): Promise<{ getResult(): Promise<JobResult> }>;
  /** Registers the queues with their limits; call after DBOS.launch. */
  registerQueues(): Promise<void>;
}

const nowIso = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/** Runs one transfer, retried with a new pod per attempt up to maxAttempts, recording the attempts made. */
async function transferWithRetries(cluster: BackupCluster, maxAttempts: number, job: JobRef, disk: VmDisk): Promise<{ outcome: TransferOutcome; attempts: number }> {
  let outcome: TransferOutcome = { ok: false, message: 'not attempted' };
  let attempt = 0;
  while (attempt < maxAttempts) {
    const n = attempt;
    outcome = await DBOS.runStep(() => cluster.runTransfer(job, disk, n), { name: `transfer-${disk.name}-${n}` });
    attempt++;
    if (outcome.ok) break;
  }
  return { outcome, attempts: attempt };
}

/** Registers the job and per-disk workflows with DBOS; call once, before DBOS.launch. */
export function registerBackupWorkflows(cluster: BackupCluster, limits: BackupLimits): BackupWorkflows {
  const step = <T>(name: string, fn: () => Promise<T>): Promise<T> => DBOS.runStep(fn, { name });
  const write = (job: JobRef, name: string, u: ReturnType<typeof S.started>): Promise<void> => step(`status-${name}`, () => cluster.writeStatus(job, u));
  const now = async (): Promise<string> => nowIso(await DBOS.now());

  // maxAttempts is absent from a disk workflow started by an older operator: the global limit applies then.
  const diskWorkflow = DBOS.registerWorkflow(
    (job: JobRef, disk: VmDisk, maxAttempts?: number) => transferWithRetries(cluster, maxAttempts ?? limits.transferAttempts, job, disk),
    { name: 'tresor.backup.disk' },
  );

  const snapshotWorkflow = DBOS.registerWorkflow(
    (job: JobRef, obs: JobObservation, plan: { freeze: boolean; runHooks: boolean }) =>
      step('snapshot', () => cluster.runSnapshot(job, { ...plan, disks: obs.disks, freezeTimeoutMs: obs.freezeTimeoutMs })),
    { name: 'tresor.backup.snapshot' },
  );

  async function fail(job: JobRef, reason: string, message: string, openStep: string): Promise<JobResult> {
    await step('cleanup-after-failure', () => cluster.cleanup(job, { keepSnapshots: false }));
    await write(job, 'failed', S.failed(reason, message, await now(), openStep));
    return { phase: 'Failed', reason, message };
  }

  async function transferAll(job: JobRef, obs: JobObservation): Promise<Array<{ disk: VmDisk; outcome: TransferOutcome; attempts: number }>> {
    const out: Array<{ disk: VmDisk; outcome: TransferOutcome; attempts: number }> = [];
    const maxAttempts = transferAttempts(obs.maxTransferRetries, limits.transferAttempts);
    // Batches of the policy's maxParallelDisks; the queue bounds transfers across all jobs on top of that.
    for (let i = 0; i < obs.disks.length; i += obs.maxParallelDisks) {
      const batch = obs.disks.slice(i, i + obs.maxParallelDisks);
      const handles = [];
      for (const disk of batch) {
        handles.push(await DBOS.startWorkflow(diskWorkflow, { workflowID: `${job.uid}-disk-${disk.name}`, queueName: QUEUES.transfers, enqueueOptions: { queuePartitionKey: job.namespace } })(job, disk, maxAttempts));
      }
      for (const [k, h] of handles.entries()) out.push({ disk: batch[k]!, ...(await h.getResult()) });
    }
    return out;
  }

  const jobWorkflow = DBOS.registerWorkflow(
    async (job: JobRef): Promise<JobResult> => {
      const obs = await step('observe', () => cluster.observe(job));
      await write(job, 'started', S.started(obs, await now()));
      const plan = planSnapshot(obs.guest);
      const before = checkRequirement(plan.best, obs.required);
      if (before) return fail(job, before.reason, before.message, ConditionTypes.SnapshotTaken);

      const snapHandle = await DBOS.startWorkflow(snapshotWorkflow, { workflowID: `${job.uid}-snapshot`, queueName: QUEUES.freezes, enqueueOptions: { queuePartitionKey: job.namespace } })(job, obs, plan);
      const snap = await snapHandle.getResult();
      const consistency = decideConsistency(obs.guest, snap);
      const after = checkRequirement(consistency, obs.required);
      if (after) return fail(job, after.reason, after.message, ConditionTypes.SnapshotTaken);
      await write(job, 'snapshot', S.snapshotTaken(consistency, snap.snapshots));

      const transfers = await transferAll(job, obs);
      const disks = transfers.map((t) => S.diskResult(t.disk, obs.forceFull, t.outcome, t.attempts));
      const bad = transfers.filter((t) => !t.outcome.ok);
      if (bad.length > 0) {
        const msg = bad.map((t) => `${t.disk.name}: ${t.outcome.ok ? '' : t.outcome.message} (after ${t.attempts} attempt(s))`).join('; ');
        await write(job, 'disks-failed', { fields: { disks }, conditions: [] });
        // The disks that did publish have manifests no RecoveryPoint will record: forget them now (ADR 0016).
        const published = transfers.flatMap((t) => (t.outcome.ok ? [{ disk: t.disk, manifestId: t.outcome.result.manifestId }] : []));
        const forgot = published.length === 0 ? [] : await step('forget-published', () => cluster.forgetPublished(job, { vaultName: obs.vaultName, vmName: obs.vmName, disks: published })).catch((err: unknown) => [`not forgotten: ${(err as Error).message}`]);
        return fail(job, Reasons.TransferFailed, `disk transfer failed: ${msg}${forgot.length > 0 ? `; manifests of the disks that did publish: ${forgot.join(', ')}` : ''}`, ConditionTypes.DataTransferred);
      }

      const snapshotOf = new Map(snap.snapshots.map((s) => [s.disk, s.snapshotName]));
      const rp = await step('recovery-point', () => cluster.recordRecoveryPoint(job, {
        vmName: obs.vmName,
        vaultName: obs.vaultName,
        consistency: consistency.level,
        keepSnapshots: obs.keepSnapshots,
        disks: transfers.map((t) => ({ disk: t.disk, result: (t.outcome as { result: DiskTransferResult }).result, snapshotName: snapshotOf.get(t.disk.name) })),
      }));
      await write(job, 'transferred', S.transferred(disks, rp));
      await step('cleanup', () => cluster.cleanup(job, { keepSnapshots: obs.keepSnapshots }));
      await write(job, 'succeeded', S.succeeded(obs.keepSnapshots, await now()));
      return { phase: 'Succeeded', recoveryPoint: rp };
    },
    { name: 'tresor.backup.job' },
  );

  return {
    async start(job) {
      return DBOS.startWorkflow(jobWorkflow, { workflowID: job.uid })(job);
    },
    async registerQueues() {
      // Partitioned by namespace (the enqueues pass it as the partition key): one tenant's share is capped.
      await DBOS.registerQueue(QUEUES.freezes, { globalConcurrency: limits.maxConcurrentFreezes, partitionConcurrency: namespaceShare(limits.maxConcurrentFreezes, limits.maxFreezesPerNamespace) });
      await DBOS.registerQueue(QUEUES.transfers, { globalConcurrency: limits.maxConcurrentTransfers, partitionConcurrency: namespaceShare(limits.maxConcurrentTransfers, limits.maxTransfersPerNamespace) });
    },
  };
}
