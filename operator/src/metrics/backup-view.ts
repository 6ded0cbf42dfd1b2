// What the backup metrics say, as pure functions of the VirtualMachineBackup and RecoveryPoint objects in
// the informer caches. Everything here is recomputed from the API's objects at scrape time, so a
// restarted operator (or a standby replica with warm caches) exports the same values: unlike a counter kept
// in memory, "when did this VM last back up" does not reset to nothing when the pod restarts.
import { ConditionTypes } from '../api/constants.ts';
import type { RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';

/** The identity a backup series is reported under: one VM under one policy ("" for on-demand jobs). */
export interface VmKey {
  readonly namespace: string;
  readonly vm: string;
  readonly policy: string;
}

/** Per VM and policy: the facts alerts are built on. */
export interface VmBackupSummary extends VmKey {
  /** Unix seconds of the newest successful job's completion, or of the newest recovery point's creation. */
  readonly lastSuccessSeconds: number | undefined;
  /** Unix seconds the oldest job of this VM and policy was created: "protected since" for never-succeeded VMs. */
  readonly firstJobSeconds: number | undefined;
  /** The newest finished job (by completion time), if any job finished. */
  readonly lastFinished: FinishedJob | undefined;
  /** Bytes the newest successful job uploaded (sum over disks). */
  readonly lastUploadedBytes: number | undefined;
}

/** A finished job as the metrics see it. */
export interface FinishedJob {
  readonly phase: 'Succeeded' | 'Failed';
  /** The Succeeded condition's reason (e.g. ConsistencyNotMet); "Completed" for a success. */
  readonly reason: string;
  readonly completedSeconds: number;
  /** completionTime - startTime, when both are known. */
  readonly durationSeconds: number | undefined;
}

/** Per VM: recovery points currently recorded. */
export interface VmRecoveryPoints {
  readonly namespace: string;
  readonly vm: string;
  readonly count: number;
  /** Unix seconds of the newest capturedAt: the point in time a restore would go back to (the RPO). */
  readonly latestCapturedSeconds: number;
  /** Sum of the bytes each point added to the vault. */
  readonly storedBytes: number;
}

/** Unix seconds of an RFC 3339 string or Date; undefined when absent or unparsable. */
export function seconds(t: string | Date | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = new Date(t).getTime();
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** The job's phase; a job without status is Pending. */
export function phaseOf(job: VirtualMachineBackupObject): string {
  return job.status?.phase ?? 'Pending';
}

/** Why the job failed: the summary condition's reason, or "Unknown". */
export function failureReason(job: VirtualMachineBackupObject): string {
  const c = job.status?.conditions?.find((x) => x.type === ConditionTypes.Succeeded);
  return c?.status === 'False' && c.reason ? c.reason : 'Unknown';
}

/** The key a job is reported under. */
export function jobKey(job: VirtualMachineBackupObject): VmKey {
  return { namespace: job.metadata.namespace ?? '', vm: job.spec.vmName, policy: job.spec.policyRef?.name ?? '' };
}

/** Sum of the bytes every disk of the job uploaded. */
export function uploadedBytes(job: VirtualMachineBackupObject): number {
  return (job.status?.disks ?? []).reduce((n, d) => n + (d.bytesUploaded ?? 0), 0);
}

/** The job as a finished job, or undefined while it is Pending or Running. */
export function finished(job: VirtualMachineBackupObject): FinishedJob | undefined {
  const phase = phaseOf(job);
  if (phase !== 'Succeeded' && phase !== 'Failed') return undefined;
  const completed = seconds(job.status?.completionTime) ?? seconds(job.metadata.creationTimestamp) ?? 0;
  const started = seconds(job.status?.startTime);
  return {
    phase,
    reason: phase === 'Failed' ? failureReason(job) : 'Completed',
    completedSeconds: completed,
    durationSeconds: started === undefined ? undefined : Math.max(0, completed - started),
  };
}

const keyString = (k: VmKey): string => `${k.namespace}\u0000${k.vm}\u0000${k.policy}`;

interface Acc {
  key: VmKey;
  lastSuccess: number | undefined;
  firstJob: number | undefined;
  lastFinished: FinishedJob | undefined;
  lastUploaded: number | undefined;
}

const max = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.max(a, b));
const min = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

function accFor(accs: Map<string, Acc>, key: VmKey): Acc {
  const k = keyString(key);
  let a = accs.get(k);
  if (a === undefined) {
    a = { key, lastSuccess: undefined, firstJob: undefined, lastFinished: undefined, lastUploaded: undefined };
    accs.set(k, a);
  }
  return a;
}

function addJob(accs: Map<string, Acc>, job: VirtualMachineBackupObject): void {
  const a = accFor(accs, jobKey(job));
  a.firstJob = min(a.firstJob, seconds(job.metadata.creationTimestamp));
  const f = finished(job);
  if (f === undefined) return;
  if (a.lastFinished === undefined || f.completedSeconds >= a.lastFinished.completedSeconds) a.lastFinished = f;
  if (f.phase === 'Succeeded' && (a.lastSuccess === undefined || f.completedSeconds >= a.lastSuccess)) {
    a.lastSuccess = f.completedSeconds;
    a.lastUploaded = uploadedBytes(job);
  }
}

/**
 * Summarises jobs and recovery points per VM and policy. A recovery point counts as a success at its
 * creation time, so the "last success" survives jobs being deleted (history limits, manual cleanup) for
 * as long as the point itself is kept.
 */
export function summarizeBackups(jobs: readonly VirtualMachineBackupObject[], points: readonly RecoveryPointObject[]): VmBackupSummary[] {
  const accs = new Map<string, Acc>();
  for (const j of jobs) addJob(accs, j);
  for (const p of points) {
    const a = accFor(accs, { namespace: p.metadata.namespace ?? '', vm: p.spec.vmName, policy: p.spec.policyName ?? '' });
    a.lastSuccess = max(a.lastSuccess, seconds(p.metadata.creationTimestamp) ?? seconds(p.spec.capturedAt));
  }
  return [...accs.values()].map((a) => ({
    ...a.key,
    lastSuccessSeconds: a.lastSuccess,
    firstJobSeconds: a.firstJob,
    lastFinished: a.lastFinished,
    lastUploadedBytes: a.lastUploaded,
  }));
}

/** Counts jobs per namespace and phase (every phase present, zeros included, for stable series). */
export function countJobs(jobs: readonly VirtualMachineBackupObject[], phases: readonly string[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const j of jobs) {
    const ns = j.metadata.namespace ?? '';
    let perPhase = out.get(ns);
    if (perPhase === undefined) {
      perPhase = new Map(phases.map((p) => [p, 0]));
      out.set(ns, perPhase);
    }
    const ph = phaseOf(j);
    perPhase.set(ph, (perPhase.get(ph) ?? 0) + 1);
  }
  return out;
}

/** Recovery points per VM: how many, the newest capturedAt, the bytes they added to the vault. */
export function summarizePoints(points: readonly RecoveryPointObject[]): VmRecoveryPoints[] {
  const out = new Map<string, VmRecoveryPoints>();
  for (const p of points) {
    const ns = p.metadata.namespace ?? '';
    const k = `${ns}\u0000${p.spec.vmName}`;
    const prev = out.get(k);
    const captured = seconds(p.spec.capturedAt) ?? 0;
    const stored = p.spec.disks.reduce((n, d) => n + (d.storedBytes ?? 0), 0);
    out.set(k, {
      namespace: ns,
      vm: p.spec.vmName,
      count: (prev?.count ?? 0) + 1,
      latestCapturedSeconds: Math.max(prev?.latestCapturedSeconds ?? 0, captured),
      storedBytes: (prev?.storedBytes ?? 0) + stored,
    });
  }
  return [...out.values()];
}
