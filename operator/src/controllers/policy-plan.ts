// The BackupPolicy controller's decision as a pure function: which VMs the policy protects, which
// scheduled VirtualMachineBackups to create now (deterministic names: the apiserver's name uniqueness
// makes each slot run once per VM, even across operator restarts and leader changes), the policy's
// status, and when to look again.
import { parseCron } from '../api/cron.ts';
import { Annotations, ConditionTypes as C, Reasons as R } from '../api/constants.ts';
import type { BackupPolicyObject, VirtualMachineBackupObject } from '../api/types.ts';
import { scheduledJobName } from '../backup/names.ts';
import type { ConditionUpdate } from '../runtime/conditions.ts';
import { dueSlots } from '../schedule/slots.ts';
import { matchesSelector } from './selector.ts';

/** A slot older than this when the operator sees it is skipped (counted, not run): no backup storms after an outage. */
export const STARTING_DEADLINE_MS = 60 * 60_000;
/** Look again at least this often even when the next slot is far away (status, selector changes without events). */
export const MAX_REQUEUE_MS = 15 * 60_000;

/** A VirtualMachine as the policy controller needs it. */
export interface VmSummary {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Everything one pass needs, read from the informer caches. */
export interface PolicyObservation {
  readonly policy: BackupPolicyObject;
  /** The vault's Ready condition status, or 'Missing' when no such BackupVault exists. */
  readonly vault: 'True' | 'False' | 'Unknown' | 'Missing';
  readonly vms: readonly VmSummary[];
  /** VirtualMachineBackups labelled with this policy. */
  readonly jobs: readonly VirtualMachineBackupObject[];
  readonly nowMs: number;
}

/** A scheduled job to create. */
export interface JobToCreate {
  readonly name: string;
  readonly vmName: string;
  /** The slot, RFC 3339 (annotation tresor.io/scheduled-time). */
  readonly slot: string;
}

/** What the pass decided. */
export interface PolicyPlan {
  readonly create: readonly JobToCreate[];
  /** VMs whose previous job is still running: this slot is skipped for them (never two jobs of one VM at once). */
  readonly skippedBusy: readonly string[];
  readonly missedSlots: number;
  readonly status: { readonly fields: Record<string, unknown>; readonly conditions: readonly ConditionUpdate[] };
  readonly requeueAfterMs: number;
}

/** How many running jobs' names status.active shows. */
export const ACTIVE_SHOWN = 20;

const finished = (j: VirtualMachineBackupObject): boolean => j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed';
const iso = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

function readiness(obs: PolicyObservation, cronError: string | undefined): ConditionUpdate {
  const ready = (status: 'True' | 'False', reason: string, message: string): ConditionUpdate => ({ type: C.Ready, status, reason, message });
  const vault = obs.policy.spec.vaultRef.name;
  if (cronError) return ready('False', R.InvalidSchedule, `spec.schedule: ${cronError}`);
  if (obs.vault === 'Missing') return ready('False', R.VaultNotFound, `BackupVault ${vault} does not exist in this namespace`);
  if (obs.vault !== 'True') return ready('False', R.VaultNotReady, `BackupVault ${vault} is not Ready; see its conditions`);
  if (obs.policy.spec.suspend) return ready('True', R.Suspended, 'spec.suspend is true: no new backups are scheduled');
  return ready('True', R.Active, 'backups are scheduled');
}

function parseSchedule(expression: string): { schedule?: ReturnType<typeof parseCron>; error?: string } {
  try {
    return { schedule: parseCron(expression) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function statusFields(obs: PolicyObservation, protectedCount: number, active: readonly VirtualMachineBackupObject[]): Record<string, unknown> {
  const lastSuccess = obs.jobs.filter((j) => j.status?.phase === 'Succeeded').map((j) => j.status?.completionTime ?? '').sort().at(-1);
  return {
    protectedVMs: protectedCount,
    // Bounded: a 1,000-VM policy's full list made every status write ~40 KB and crossed the schema's
    // 1,024-item limit (the apiserver then rejects the whole status). The count is exact.
    active: active.map((j) => j.metadata.name!).sort().slice(0, ACTIVE_SHOWN),
    activeCount: active.length,
    ...(lastSuccess ? { lastSuccessfulBackupTime: lastSuccess } : {}),
  };
}

/** Decides one pass of the BackupPolicy controller. */
export function planPolicy(obs: PolicyObservation): PolicyPlan {
  const { policy, nowMs } = obs;
  const protectedVms = obs.vms.filter((vm) => matchesSelector(policy.spec.vmSelector, vm.labels) && vm.annotations?.[Annotations.Exclude] !== 'true');
  const { schedule, error } = parseSchedule(policy.spec.schedule);
  const ready = readiness(obs, error);
  const active = obs.jobs.filter((j) => !finished(j));
  const fields = statusFields(obs, protectedVms.length, active);
  const idle = { create: [], skippedBusy: [], missedSlots: 0 };
  if (!schedule || ready.status !== 'True' || policy.spec.suspend) {
    return { ...idle, status: { fields, conditions: [ready] }, requeueAfterMs: MAX_REQUEUE_MS };
  }
  const lastMs = Date.parse(policy.status?.lastScheduleTime ?? policy.metadata.creationTimestamp?.toString() ?? iso(nowMs));
  const due = dueSlots(schedule, policy.spec.timeZone ?? 'UTC', { lastMs, nowMs, startingDeadlineMs: STARTING_DEADLINE_MS });
  if (due.next !== undefined) fields.nextScheduleTime = iso(due.next);
  if (due.latest !== undefined) fields.lastScheduleTime = iso(due.latest);
  const requeueAfterMs = Math.min(MAX_REQUEUE_MS, Math.max(1_000, (due.next ?? nowMs + MAX_REQUEUE_MS) - nowMs));
  const status = { fields, conditions: [ready] };
  if (due.run === undefined) return { ...idle, missedSlots: due.missed, status, requeueAfterMs };
  const runAt = new Date(due.run);
  const busy = new Set(active.map((j) => j.spec.vmName));
  return {
    create: protectedVms.filter((vm) => !busy.has(vm.name)).map((vm) => ({ name: scheduledJobName(policy.metadata.name!, vm.name, runAt), vmName: vm.name, slot: iso(due.run!) })),
    skippedBusy: protectedVms.filter((vm) => busy.has(vm.name)).map((vm) => vm.name),
    missedSlots: due.missed,
    status,
    requeueAfterMs,
  };
}
