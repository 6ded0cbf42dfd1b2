// Bounded job history (ADR 0112): a policy creates one VirtualMachineBackup per VM per slot, and before
// this they stayed forever (a 1,000-VM nightly policy: 365,000 objects a year in etcd and in every
// informer cache). Like a CronJob's successfulJobsHistoryLimit / failedJobsHistoryLimit, per VM of the
// policy the newest `succeeded` finished-successfully jobs and the newest `failed` failed ones are kept;
// older finished ones are deleted. Deleting a finished job never touches its recovery point (points have
// no owner reference to their job; kept snapshots move to the point, ADR 0071).
import { Labels } from '../api/constants.ts';
import type { VirtualMachineBackupObject } from '../api/types.ts';

/** How many finished jobs of each outcome to keep per VM per policy. */
export interface JobHistoryLimits {
  readonly succeeded: number;
  readonly failed: number;
}

/** The defaults (a CronJob keeps 3 and 1; a failed backup is worth a longer look, so 3 and 3). */
export const DEFAULT_JOB_HISTORY: JobHistoryLimits = Object.freeze({ succeeded: 3, failed: 3 });

/** At most this many deletions per policy pass, so a first trim of a long history does not flood the API. */
export const MAX_TRIM_PER_PASS = 50;

function endMs(j: VirtualMachineBackupObject): number {
  const t = Date.parse(String(j.status?.completionTime ?? j.metadata.creationTimestamp ?? ''));
  return Number.isFinite(t) ? t : 0;
}

function trimmable(j: VirtualMachineBackupObject, policy: string): boolean {
  const phase = j.status?.phase;
  return j.metadata.labels?.[Labels.Policy] === policy && !j.metadata.deletionTimestamp && (phase === 'Succeeded' || phase === 'Failed');
}

/**
 * The finished jobs of one policy to delete, oldest first (pure). Only the scheduler's own jobs (labelled
 * with the policy) are trimmed; a job whose spec.retainUntil is still ahead is kept, since retention reads
 * it to protect that job's recovery point; jobs already being deleted are skipped.
 */
export function jobsToTrim(policy: string, jobs: readonly VirtualMachineBackupObject[], limits: JobHistoryLimits, nowMs: number): VirtualMachineBackupObject[] {
  const byVm = new Map<string, VirtualMachineBackupObject[]>();
  for (const j of jobs.filter((x) => trimmable(x, policy))) byVm.set(j.spec.vmName, [...(byVm.get(j.spec.vmName) ?? []), j]);
  const out: VirtualMachineBackupObject[] = [];
  for (const list of byVm.values()) {
    // Newest first; the name breaks ties so the verdict does not depend on cache order.
    list.sort((a, b) => endMs(b) - endMs(a) || (b.metadata.name ?? '').localeCompare(a.metadata.name ?? ''));
    const kept = { Succeeded: 0, Failed: 0 };
    for (const j of list) {
      const phase = j.status!.phase as 'Succeeded' | 'Failed';
      const limit = phase === 'Succeeded' ? limits.succeeded : limits.failed;
      if (kept[phase] < limit) {
        kept[phase]++;
        continue;
      }
      const until = Date.parse(j.spec.retainUntil ?? '');
      if (Number.isFinite(until) && until > nowMs) continue;
      out.push(j);
    }
  }
  return out.sort((a, b) => endMs(a) - endMs(b));
}
