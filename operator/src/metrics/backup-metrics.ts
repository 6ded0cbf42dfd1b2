// The backup metrics users alert on. Two kinds, on purpose (ADR 0080):
//  - gauges computed at scrape time from the informer caches (last success per VM, whether the newest
//    finished job failed, jobs per phase, recovery points per VM): they describe the cluster's objects,
//    so they are the same after a restart and on every replica;
//  - counters and a histogram counted on transitions this process observes (a job turning Failed or
//    Succeeded): they reset when the process restarts, as every Prometheus counter may; use rate() or
//    increase() on them, and the gauges for "is something wrong now".
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { Phases } from '../api/constants.ts';
import type { BackupPolicyObject, RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
import { ScheduleGaps } from './policy-view.ts';
import { countJobs, finished, jobKey, phaseOf, summarizeBackups, summarizePoints, uploadedBytes } from './backup-view.ts';

/** Names of the backup metrics (snake_case, unit suffixes; counters end in _total). */
export const BACKUP_METRIC = Object.freeze({
  lastSuccessTimestampSeconds: 'tresor_backup_last_success_timestamp_seconds',
  protectedSinceTimestampSeconds: 'tresor_backup_protected_since_timestamp_seconds',
  lastJobFailed: 'tresor_backup_last_job_failed',
  lastCompletionTimestampSeconds: 'tresor_backup_last_completion_timestamp_seconds',
  lastDurationSeconds: 'tresor_backup_last_duration_seconds',
  lastUploadedBytes: 'tresor_backup_last_uploaded_bytes',
  jobs: 'tresor_backup_jobs',
  jobFailuresTotal: 'tresor_backup_job_failures_total',
  jobSuccessesTotal: 'tresor_backup_job_successes_total',
  uploadedBytesTotal: 'tresor_backup_uploaded_bytes_total',
  jobDurationSeconds: 'tresor_backup_job_duration_seconds',
  recoveryPoints: 'tresor_recovery_points',
  recoveryPointLatestTimestampSeconds: 'tresor_recovery_point_latest_timestamp_seconds',
  recoveryPointStoredBytes: 'tresor_recovery_point_stored_bytes',
  policyMaxIntervalSeconds: 'tresor_backup_policy_max_interval_seconds',
  policySuspended: 'tresor_backup_policy_suspended',
});

/** Label names of the backup metrics. */
export const BACKUP_LABEL = Object.freeze({ namespace: 'namespace', vm: 'vm', policy: 'policy', phase: 'phase', reason: 'reason', result: 'result' });

/** Where the collector reads the current objects from (an informer's `list`, or a fixture in tests). */
export interface BackupMetricsSource {
  readonly backups: () => readonly VirtualMachineBackupObject[];
  readonly recoveryPoints: () => readonly RecoveryPointObject[];
  /** BackupPolicies, for the per-policy gauges the missing-backup alert scales by (absent: no such gauges). */
  readonly policies?: () => readonly BackupPolicyObject[];
  /** Milliseconds since the epoch; schedule gaps are looked up from here. */
  readonly now?: () => number;
}

/** Options of the backup metrics. */
export interface BackupMetricsOptions extends BackupMetricsSource {
  readonly registry: Registry;
  /** Unix seconds this process started; a Failed job first seen later counts only if it completed after this. */
  readonly startedSeconds?: number;
}

/** Handle for feeding observed job transitions into the counters. */
export interface BackupMetrics {
  /** Counts the transition from `prev` (undefined: first sight) to `next`, once per job and outcome. */
  observe(next: VirtualMachineBackupObject, prev?: VirtualMachineBackupObject): void;
}

const L = BACKUP_LABEL;
const VM_LABELS = [L.namespace, L.vm, L.policy] as const;
// Backup jobs take seconds (a small VM, incremental) to many hours (first full backup of terabytes).
const JOB_DURATION_BUCKETS = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14_400, 28_800, 57_600, 86_400];

type Labels = Record<string, string>;
type Setter = (labels: Labels, value: number) => void;

/** A gauge whose series are rebuilt from the source on every scrape (stale VMs disappear). */
function scrapeGauge(registry: Registry, def: { name: string; help: string; labels: readonly string[] }, fill: (set: Setter) => void): Gauge {
  return new Gauge({
    name: def.name, help: def.help, labelNames: def.labels, registers: [registry],
    collect(this: Gauge) {
      this.reset();
      fill((labels, value) => this.set(labels, value));
    },
  });
}

function vmGauges(reg: Registry, src: BackupMetricsSource): void {
  const M = BACKUP_METRIC;
  const summaries = (): ReturnType<typeof summarizeBackups> => summarizeBackups(src.backups(), src.recoveryPoints());
  const vm = (s: { namespace: string; vm: string; policy: string }): Labels => ({ namespace: s.namespace, vm: s.vm, policy: s.policy });
  scrapeGauge(reg, { name: M.lastSuccessTimestampSeconds, help: 'Unix time of the last successful backup of the VM under the policy (job completion or recovery point creation).', labels: VM_LABELS }, (set) => {
    for (const s of summaries()) if (s.lastSuccessSeconds !== undefined) set(vm(s), s.lastSuccessSeconds);
  });
  scrapeGauge(reg, { name: M.protectedSinceTimestampSeconds, help: 'Unix time the oldest backup job of the VM under the policy was created (alert base for VMs that never succeeded).', labels: VM_LABELS }, (set) => {
    for (const s of summaries()) if (s.firstJobSeconds !== undefined) set(vm(s), s.firstJobSeconds);
  });
  scrapeGauge(reg, { name: M.lastJobFailed, help: '1 if the newest finished backup job of the VM under the policy failed (reason = its Succeeded condition reason), 0 if it succeeded.', labels: [...VM_LABELS, L.reason] }, (set) => {
    for (const s of summaries()) {
      if (s.lastFinished !== undefined) set({ ...vm(s), reason: s.lastFinished.phase === 'Failed' ? s.lastFinished.reason : '' }, s.lastFinished.phase === 'Failed' ? 1 : 0);
    }
  });
  scrapeGauge(reg, { name: M.lastCompletionTimestampSeconds, help: 'Unix time the newest finished backup job of the VM under the policy ended (Succeeded or Failed).', labels: VM_LABELS }, (set) => {
    for (const s of summaries()) if (s.lastFinished !== undefined) set(vm(s), s.lastFinished.completedSeconds);
  });
  scrapeGauge(reg, { name: M.lastDurationSeconds, help: 'How long the newest finished backup job of the VM under the policy ran.', labels: VM_LABELS }, (set) => {
    for (const s of summaries()) if (s.lastFinished?.durationSeconds !== undefined) set(vm(s), s.lastFinished.durationSeconds);
  });
  scrapeGauge(reg, { name: M.lastUploadedBytes, help: 'Bytes the newest successful backup job of the VM uploaded to the vault (after dedup, compression, encryption).', labels: VM_LABELS }, (set) => {
    for (const s of summaries()) if (s.lastUploadedBytes !== undefined) set(vm(s), s.lastUploadedBytes);
  });
}

function clusterGauges(reg: Registry, src: BackupMetricsSource): void {
  const M = BACKUP_METRIC;
  scrapeGauge(reg, { name: M.jobs, help: 'Backup jobs (VirtualMachineBackups) that exist, per namespace and phase.', labels: [L.namespace, L.phase] }, (set) => {
    for (const [namespace, perPhase] of countJobs(src.backups(), Phases)) for (const [phase, n] of perPhase) set({ namespace, phase }, n);
  });
  const points = (): ReturnType<typeof summarizePoints> => summarizePoints(src.recoveryPoints());
  scrapeGauge(reg, { name: M.recoveryPoints, help: 'Recovery points recorded for the VM.', labels: [L.namespace, L.vm] }, (set) => {
    for (const p of points()) set({ namespace: p.namespace, vm: p.vm }, p.count);
  });
  scrapeGauge(reg, { name: M.recoveryPointLatestTimestampSeconds, help: 'Unix time the newest recovery point of the VM was captured (what a restore goes back to).', labels: [L.namespace, L.vm] }, (set) => {
    for (const p of points()) set({ namespace: p.namespace, vm: p.vm }, p.latestCapturedSeconds);
  });
  scrapeGauge(reg, { name: M.recoveryPointStoredBytes, help: 'Bytes the VM\'s current recovery points added to the vault (sum of each point\'s new data).', labels: [L.namespace, L.vm] }, (set) => {
    for (const p of points()) set({ namespace: p.namespace, vm: p.vm }, p.storedBytes);
  });
}

function policyGauges(reg: Registry, src: BackupMetricsSource): void {
  const list = src.policies;
  if (list === undefined) return;
  const M = BACKUP_METRIC;
  const gaps = new ScheduleGaps();
  const now = src.now ?? Date.now;
  const facts = (): ReturnType<ScheduleGaps['facts']>[] => list().map((p) => gaps.facts(p, now()));
  scrapeGauge(reg, { name: M.policyMaxIntervalSeconds, help: 'Longest time the policy\'s schedule leaves between two runs (the missing-backup alert adds a grace period to it).', labels: [L.namespace, L.policy] }, (set) => {
    for (const f of facts()) if (f.maxIntervalSeconds !== undefined) set({ namespace: f.namespace, policy: f.policy }, f.maxIntervalSeconds);
  });
  scrapeGauge(reg, { name: M.policySuspended, help: '1 while the policy is suspended (no new backups are expected), else 0.', labels: [L.namespace, L.policy] }, (set) => {
    for (const f of facts()) set({ namespace: f.namespace, policy: f.policy }, f.suspended ? 1 : 0);
  });
}

/**
 * Registers the backup metrics on `registry`: scrape-time gauges read `backups()` and
 * `recoveryPoints()`; the returned `observe` feeds the transition counters (wire it to the informer).
 */
export function createBackupMetrics(opts: BackupMetricsOptions): BackupMetrics {
  const reg = opts.registry;
  const M = BACKUP_METRIC;
  vmGauges(reg, opts);
  clusterGauges(reg, opts);
  policyGauges(reg, opts);
  const registers = [reg];
  const failures = new Counter({ name: M.jobFailuresTotal, help: 'Backup jobs this process saw turn Failed, by reason (resets when the operator restarts).', labelNames: [...VM_LABELS, L.reason], registers });
  const successes = new Counter({ name: M.jobSuccessesTotal, help: 'Backup jobs this process saw turn Succeeded (resets when the operator restarts).', labelNames: VM_LABELS, registers });
  const uploaded = new Counter({ name: M.uploadedBytesTotal, help: 'Bytes uploaded to vaults by backup jobs this process saw succeed (resets when the operator restarts).', labelNames: VM_LABELS, registers });
  const duration = new Histogram({ name: M.jobDurationSeconds, help: 'Duration of backup jobs this process saw finish, by result.', labelNames: [L.namespace, L.result], buckets: JOB_DURATION_BUCKETS, registers });
  const started = opts.startedSeconds ?? Date.now() / 1000;
  return {
    observe(next, prev) {
      const f = finished(next);
      if (f === undefined) return;
      // Count a transition once: an update out of a non-final phase, or a first sight (start-up list,
      // relist) of a job that finished after this process started, i.e. that no earlier process counted.
      const transition = prev !== undefined ? phaseOf(prev) !== f.phase : f.completedSeconds >= started;
      if (!transition) return;
      const k = jobKey(next);
      const vm = { namespace: k.namespace, vm: k.vm, policy: k.policy };
      if (f.phase === 'Failed') failures.inc({ ...vm, reason: f.reason });
      else {
        successes.inc(vm);
        uploaded.inc(vm, uploadedBytes(next));
      }
      if (f.durationSeconds !== undefined) duration.observe({ namespace: k.namespace, result: f.phase }, f.durationSeconds);
    },
  };
}
