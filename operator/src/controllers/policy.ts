// The BackupPolicy controller around the pure planner (policy-plan.ts): observe the policy, its vault,
// the VirtualMachines and the policy's jobs from the informer caches; create the VirtualMachineBackups
// the planner asks for (deterministic names, so a slot runs once per VM even across restarts); write
// the policy's status; emit Events; apply retention to the policy's recovery points; requeue at the next
// slot. Jobs carry labels and no owner reference: deleting a policy never deletes a job or, through it,
// a recovery point (ADR 0071).
import { API_VERSION, Annotations, ConditionTypes, EventReasons, Kinds, Labels, MANAGED_BY, Reasons } from '../api/constants.ts';
import type { BackupPolicyStatus } from '../api/backuppolicy.ts';
import type { BackupPolicyObject, BackupVaultObject, RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
import { childName } from '../backup/names.ts';
import { findCondition, setConditions, type Condition } from '../runtime/conditions.ts';
import { isConflict } from '../runtime/errors.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { requeueAfter, type Outcome, type Reconciler } from '../runtime/reconciler.ts';
import { writeStatus, type StatusApi } from '../runtime/status.ts';
import { planPolicy, type JobToCreate, type PolicyObservation, type PolicyPlan, type VmSummary } from './policy-plan.ts';
import { matchesSelector } from './selector.ts';
import { applyPolicyRetention, type RetentionDeps } from '../policy/retention.ts';
import { DEFAULT_JOB_HISTORY, jobsToTrim, MAX_TRIM_PER_PASS, type JobHistoryLimits } from './policy-history.ts';

/** Read access to the informer caches a pass needs. */
export interface PolicyCache {
  vault(namespace: string, name: string): BackupVaultObject | undefined;
  vms(namespace: string): readonly VmSummary[];
  jobs(namespace: string): readonly VirtualMachineBackupObject[];
  points(namespace: string): readonly RecoveryPointObject[];
}

/** The API calls the policy controller makes besides status (custom objects in production, a fake in tests). */
export interface PolicyApi {
  /** Creates a job; throws the API's 409 when the name is taken. */
  createJob(job: VirtualMachineBackupObject): Promise<void>;
  readJob(namespace: string, name: string): Promise<VirtualMachineBackupObject | undefined>;
  /** Removes the run-now annotation if it still has `value` (JSON merge patch on metadata). */
  clearRunNow(namespace: string, name: string, value: string): Promise<void>;
  /** Deletes a finished job with its UID as precondition; gone (or replaced) counts as done. */
  deleteJob(job: VirtualMachineBackupObject): Promise<void>;
}

/** The events the policy controller emits (an EventRecorder in production). */
export interface PolicyEvents {
  normal(object: BackupPolicyObject | RecoveryPointObject, reason: string, message: string): Promise<void>;
  warning(object: BackupPolicyObject | RecoveryPointObject, reason: string, message: string): Promise<void>;
}

/** What the policy controller works with. */
export interface PolicyControllerDeps {
  readonly cache: PolicyCache;
  readonly api: PolicyApi;
  readonly status: StatusApi<BackupPolicyStatus>;
  readonly retention: Omit<RetentionDeps, 'events'>;
  readonly events: PolicyEvents;
  readonly log?: Logger;
  readonly now?: () => number;
  /** Finished jobs kept per VM (ADR 0112); default DEFAULT_JOB_HISTORY. */
  readonly history?: JobHistoryLimits;
}

/** Jobs of one slot created at once. */
export const CREATE_CONCURRENCY = 8;

/** Runs fn over items with at most `limit` in flight, in order of start; rejects with the first error after all settled. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item).catch((err: unknown) => void errors.push(err));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

/** True when a job belongs to the policy: labelled by the scheduler, or created by a user with policyRef. */
export function jobOfPolicy(job: VirtualMachineBackupObject, policy: string): boolean {
  return job.metadata.labels?.[Labels.Policy] === policy || job.spec.policyRef?.name === policy;
}

/** The vault's Ready status as the planner wants it. */
export function vaultState(vault: BackupVaultObject | undefined): PolicyObservation['vault'] {
  if (vault === undefined) return 'Missing';
  return findCondition(vault.status?.conditions as Condition[] | undefined, ConditionTypes.Ready)?.status ?? 'Unknown';
}

/** The VirtualMachineBackup the scheduler creates for one VM (labels, slot annotation, policyRef; no owner). */
export function scheduledJob(policy: BackupPolicyObject, job: JobToCreate, extraAnnotations: Record<string, string> = {}): VirtualMachineBackupObject {
  const name = policy.metadata.name!;
  return {
    apiVersion: API_VERSION,
    kind: Kinds.VirtualMachineBackup,
    metadata: {
      name: job.name,
      namespace: policy.metadata.namespace,
      labels: { [Labels.ManagedBy]: MANAGED_BY, [Labels.Policy]: name, [Labels.VirtualMachine]: job.vmName },
      annotations: { ...(job.slot ? { [Annotations.ScheduledTime]: job.slot } : {}), ...extraAnnotations },
    },
    spec: { vmName: job.vmName, policyRef: { name } },
  };
}

/** The jobs a run-now request asks for: one per protected VM, named after the request's value. */
export function runNowJobs(policy: BackupPolicyObject, vms: readonly VmSummary[], protectedNames: ReadonlySet<string>): JobToCreate[] {
  const value = policy.metadata.annotations?.[Annotations.RunNow];
  if (!value) return [];
  const token = childName(value).slice(0, 16) || 'now';
  return vms.filter((vm) => protectedNames.has(vm.name)).map((vm) => ({ name: childName(policy.metadata.name!, vm.name, 'now', token), vmName: vm.name, slot: '' }));
}

/** The policy's next status: the planner's fields and Ready condition, keeping what the planner leaves out. */
export function policyStatus(current: BackupPolicyStatus | undefined, plan: PolicyPlan, generation: number | undefined, nowMs: number): BackupPolicyStatus {
  const f = plan.status.fields as Partial<BackupPolicyStatus>;
  const conditions = setConditions(current?.conditions as Condition[] | undefined, plan.status.conditions.map((c) => ({
    ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}),
  })), nowMs);
  const lastSuccess = [f.lastSuccessfulBackupTime, current?.lastSuccessfulBackupTime].filter((t): t is string => !!t).sort().at(-1);
  const lastSchedule = f.lastScheduleTime ?? current?.lastScheduleTime;
  return {
    ...current,
    conditions: [...conditions],
    protectedVMs: f.protectedVMs ?? 0,
    active: f.active ?? [],
    activeCount: f.activeCount ?? 0,
    // Only a schedulable policy has a next slot; a suspended one must not show a stale one.
    nextScheduleTime: f.nextScheduleTime,
    ...(lastSchedule ? { lastScheduleTime: lastSchedule } : {}),
    ...(lastSuccess ? { lastSuccessfulBackupTime: lastSuccess } : {}),
  };
}

/** The policy controller. */
export class PolicyController {
  private readonly deps: PolicyControllerDeps;
  private readonly log: Logger;

  constructor(deps: PolicyControllerDeps) {
    this.deps = deps;
    this.log = deps.log ?? silentLogger;
  }

  /** Everything one pass needs, from the caches. */
  observe(policy: BackupPolicyObject): PolicyObservation {
    const ns = policy.metadata.namespace ?? '';
    const name = policy.metadata.name!;
    return {
      policy,
      vault: vaultState(this.deps.cache.vault(ns, policy.spec.vaultRef.name)),
      vms: this.deps.cache.vms(ns),
      jobs: this.deps.cache.jobs(ns).filter((j) => jobOfPolicy(j, name)),
      nowMs: (this.deps.now ?? Date.now)(),
    };
  }

  /** The reconciler to hand to the runtime's Controller. */
  readonly reconcile: Reconciler<BackupPolicyObject> = async (policy): Promise<Outcome> => {
    const obs = this.observe(policy);
    const plan = withVaultReason(planPolicy(obs), this.deps.cache.vault(policy.metadata.namespace ?? '', policy.spec.vaultRef.name));
    await this.schedule(policy, obs, plan);
    await this.runNow(policy, obs, plan);
    const now = this.deps.now ?? Date.now;
    await writeStatus({
      api: this.deps.status,
      ref: { namespace: policy.metadata.namespace, name: policy.metadata.name! },
      mutate: (cur) => policyStatus(cur.status, plan, cur.generation, now()),
    });
    if (!policy.spec.suspend) {
      const points = this.deps.cache.points(policy.metadata.namespace ?? '');
      await applyPolicyRetention(policy, points, obs.jobs, { ...this.deps.retention, events: this.deps.events, nowMs: now() });
    }
    const more = await this.trimHistory(policy, obs, now());
    // A long history is trimmed a batch per pass; come back soon for the rest.
    return requeueAfter(more ? Math.min(plan.requeueAfterMs, 1000) : plan.requeueAfterMs);
  };

  // After retention, which reads the jobs' retainUntil (jobsToTrim keeps those still ahead anyway).
  private async trimHistory(policy: BackupPolicyObject, obs: PolicyObservation, nowMs: number): Promise<boolean> {
    const trim = jobsToTrim(policy.metadata.name!, obs.jobs, this.deps.history ?? DEFAULT_JOB_HISTORY, nowMs);
    for (const job of trim.slice(0, MAX_TRIM_PER_PASS)) await this.deps.api.deleteJob(job);
    if (trim.length > 0) this.log.info('job history trimmed', { policy: `${policy.metadata.namespace}/${policy.metadata.name}`, deleted: Math.min(trim.length, MAX_TRIM_PER_PASS), left: Math.max(0, trim.length - MAX_TRIM_PER_PASS) });
    return trim.length > MAX_TRIM_PER_PASS;
  }

  private async schedule(policy: BackupPolicyObject, obs: PolicyObservation, plan: PolicyPlan): Promise<void> {
    const slot = (plan.status.fields as { lastScheduleTime?: string }).lastScheduleTime;
    // In bounded parallel: one at a time, a 1,000-VM slot took minutes of round trips (docs/scale.md).
    await inParallel(plan.create, CREATE_CONCURRENCY, (job) => this.create(policy, scheduledJob(policy, job)));
    // A VM whose running job is this very slot's job is not busy: the cache has just caught up with our create.
    const active = obs.jobs.filter((j) => j.status?.phase !== 'Succeeded' && j.status?.phase !== 'Failed');
    const reallyBusy = plan.skippedBusy.filter((vm) => !active.some((j) => j.spec.vmName === vm && j.metadata.annotations?.[Annotations.ScheduledTime] === slot));
    for (const vm of reallyBusy) {
      const running = active.filter((j) => j.spec.vmName === vm).map((j) => j.metadata.name).join(', ');
      await this.deps.events.normal(policy, EventReasons.SlotSkipped, `slot ${slot} skipped for VM ${vm}: its backup ${running} is still running`);
    }
    if (plan.missedSlots > 0) {
      await this.deps.events.warning(policy, EventReasons.MissedSlots, `${plan.missedSlots} slot(s) before ${slot ?? 'now'} were missed (operator down or policy blocked) and are not run late; the next slot runs as usual`);
    }
  }

  private async runNow(policy: BackupPolicyObject, obs: PolicyObservation, plan: PolicyPlan): Promise<void> {
    const value = policy.metadata.annotations?.[Annotations.RunNow];
    if (!value) return;
    if (plan.status.conditions[0]?.status !== 'True' || policy.spec.suspend) {
      // A run-now on a blocked policy stays until the policy can run: the Ready condition says why.
      if (policy.spec.suspend) await this.deps.events.warning(policy, EventReasons.SlotSkipped, `run-now '${value}' waits: spec.suspend is true`);
      return;
    }
    // One job per VM at a time: a VM with a running job (or one this pass just scheduled) gets its
    // run-now job on a later pass; the annotation stays until every protected VM has one.
    const busy = new Set([...obs.jobs.filter((j) => j.status?.phase !== 'Succeeded' && j.status?.phase !== 'Failed').map((j) => j.spec.vmName), ...plan.create.map((j) => j.vmName)]);
    const existing = new Set(obs.jobs.map((j) => j.metadata.name));
    let waiting = 0;
    for (const job of runNowJobs(policy, obs.vms, protectedVmNames(policy, obs.vms))) {
      if (existing.has(job.name)) continue;
      if (busy.has(job.vmName)) {
        waiting++;
        continue;
      }
      await this.create(policy, scheduledJob(policy, job, { [Annotations.RunNow]: value }));
    }
    if (waiting === 0) await this.deps.api.clearRunNow(policy.metadata.namespace ?? '', policy.metadata.name!, value);
  }

  private async create(policy: BackupPolicyObject, job: VirtualMachineBackupObject): Promise<void> {
    const ns = job.metadata.namespace ?? '';
    const name = job.metadata.name!;
    try {
      await this.deps.api.createJob(job);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const existing = await this.deps.api.readJob(ns, name);
      if (existing && jobOfPolicy(existing, policy.metadata.name!) && existing.spec.vmName === job.spec.vmName) return;
      await this.deps.events.warning(policy, EventReasons.NameConflict, `VirtualMachineBackup ${name} exists and was not created by this policy; not scheduling VM ${job.spec.vmName} for this slot`);
      return;
    }
    this.log.info('backup scheduled', { policy: `${ns}/${policy.metadata.name}`, job: name, vm: job.spec.vmName });
    await this.deps.events.normal(policy, EventReasons.BackupScheduled, `created VirtualMachineBackup ${name} for VM ${job.spec.vmName} (${job.metadata.annotations?.[Annotations.ScheduledTime] ? `slot ${job.metadata.annotations[Annotations.ScheduledTime]}` : `run-now ${job.metadata.annotations?.[Annotations.RunNow]}`})`);
  }
}

/** A VaultNotReady condition also says why the vault is not Ready, so one `kubectl get` names the fix. */
export function withVaultReason(plan: PolicyPlan, vault: BackupVaultObject | undefined): PolicyPlan {
  const why = findCondition(vault?.status?.conditions as Condition[] | undefined, ConditionTypes.Ready);
  if (!why || why.status === 'True') return plan;
  const conditions = plan.status.conditions.map((c) => (c.reason === Reasons.VaultNotReady ? { ...c, message: `${c.message}: ${why.reason}: ${why.message}`.slice(0, 1024) } : c));
  return { ...plan, status: { ...plan.status, conditions } };
}

/** The VMs the policy protects: the same rule as the planner's (selector match, not excluded). */
export function protectedVmNames(policy: BackupPolicyObject, vms: readonly VmSummary[]): Set<string> {
  return new Set(vms.filter((vm) => matchesSelector(policy.spec.vmSelector, vm.labels) && vm.annotations?.[Annotations.Exclude] !== 'true').map((vm) => vm.name));
}
