// The status a restore shows at each stage, as pure functions of what the workflow knows, and the
// Events each update deserves. Conditions: DisksRestored -> VirtualMachineReady, summary Succeeded;
// phase is only their projection. Per-disk entries merge by name, so concurrent disks never clobber.
import { ConditionTypes as C, EventReasons as E, Reasons as R } from '../api/constants.ts';
import type { DiskRestoreStatus, VirtualMachineRestoreStatus } from '../api/virtualmachinerestore.ts';
import { setConditions, type Condition, type ConditionUpdate } from '../runtime/conditions.ts';
import type { DiskRestoreOutcome, DiskRestoreResult, RestoreDisk, RestorePlan, RestoreStatusUpdate } from './ports.ts';

type Status = VirtualMachineRestoreStatus & Record<string, unknown>;
const cond = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string): ConditionUpdate => ({ type, status, reason, message });
const progress = (done: number, total: number): { bytesDone: number; bytesTotal: number; percent: number } => ({
  bytesDone: done, bytesTotal: total, percent: total > 0 ? Math.min(100, Math.floor((100 * done) / total)) : 100,
});

/** The restore has a plan: every disk Pending, nothing written. */
export function started(plan: RestorePlan, nowIso: string): RestoreStatusUpdate {
  const total = plan.disks.reduce((n, d) => n + d.sizeBytes, 0);
  return {
    fields: {
      phase: 'Running', startTime: nowIso, targetVMName: plan.targetVMName, progress: progress(0, total),
      disks: plan.disks.map((d) => ({ name: d.name, pvcName: d.pvcName, sizeBytes: d.sizeBytes, bytesWritten: 0, progress: progress(0, d.sizeBytes), phase: 'Pending' })),
    },
    conditions: [
      cond(C.DisksRestored, 'False', R.InProgress, `restoring ${plan.disks.length} disk(s) from recovery point ${plan.recoveryPoint}`),
      cond(C.VirtualMachineReady, 'False', R.Pending, plan.mode === 'InPlace'
        ? `VirtualMachine ${plan.targetVMName} is stopped and gets the restored disks once they are written`
        : `VirtualMachine ${plan.targetVMName} is created once its disks are restored`),
      cond(C.Succeeded, 'Unknown', R.InProgress, `restoring ${plan.recoveryPoint} ${plan.mode === 'InPlace' ? 'in place into' : 'as'} VirtualMachine ${plan.targetVMName}`),
    ],
  };
}

/** One disk's restore pod is running (attempt counts from 0). */
export function diskRunning(disk: RestoreDisk, podName: string, attempt: number): RestoreStatusUpdate {
  return { fields: { disks: [{ name: disk.name, phase: 'Running', message: `restore pod ${podName} (attempt ${attempt + 1})` }] }, conditions: [] };
}

/** One disk's status entry after its restore ended. */
export function diskEnded(disk: RestoreDisk, outcome: DiskRestoreOutcome, attempts: number): DiskRestoreStatus {
  const base = { name: disk.name, pvcName: disk.pvcName, sizeBytes: disk.sizeBytes };
  if (!outcome.ok) return { ...base, phase: 'Failed', message: `${outcome.message} (after ${attempts} attempt(s))`.slice(0, 4096) };
  const r = outcome.result;
  return { ...base, phase: 'Succeeded', bytesWritten: r.bytesWritten, progress: progress(disk.sizeBytes, disk.sizeBytes), message: `restored backup ${r.backupId} in ${r.durationMs} ms` };
}

/** Writes one disk's final entry. */
export function diskDone(entry: DiskRestoreStatus): RestoreStatusUpdate {
  return { fields: { disks: [entry] }, conditions: [] };
}

/** Every disk is in its new PVC. */
export function disksRestored(plan: RestorePlan): RestoreStatusUpdate {
  const total = plan.disks.reduce((n, d) => n + d.sizeBytes, 0);
  return {
    fields: { progress: progress(total, total) },
    conditions: [cond(C.DisksRestored, 'True', R.Completed, `${plan.disks.length} disk(s) restored: ${plan.disks.map((d) => `${d.name} -> ${d.pvcName}`).join(', ')}`)],
  };
}

/** The new VM exists on the restored PVCs. */
export function vmCreated(plan: RestorePlan, droppedDisks: readonly string[]): RestoreStatusUpdate {
  const dropped = droppedDisks.length > 0 ? `; disks not restored and left out of it: ${droppedDisks.join(', ')}` : '';
  return {
    fields: {},
    conditions: [cond(C.VirtualMachineReady, 'True', R.VirtualMachineCreated, `VirtualMachine ${plan.targetVMName} created (${plan.startVM ? 'started' : 'halted'})${dropped}`)],
  };
}

/** InPlace: the VM now uses the restored PVCs; the replaced ones are kept. */
export function vmSwapped(plan: RestorePlan): RestoreStatusUpdate {
  const swaps = plan.disks.map((d) => `${d.name}: ${d.pvcName} (was ${plan.replacedClaims?.[d.name] ?? '?'}, kept)`).join(', ');
  return {
    fields: {},
    conditions: [cond(C.VirtualMachineReady, 'True', R.VolumesSwapped, `VirtualMachine ${plan.targetVMName} now uses the restored disks (${plan.startVM ? 'started' : 'halted'}): ${swaps}`)],
  };
}

/** The restore is done. */
export function succeeded(plan: RestorePlan, nowIso: string): RestoreStatusUpdate {
  return {
    fields: { phase: 'Succeeded', completionTime: nowIso },
    conditions: [cond(C.Succeeded, 'True', R.Completed, `recovery point ${plan.recoveryPoint} restored ${plan.mode === 'InPlace' ? 'in place into' : 'as'} VirtualMachine ${plan.targetVMName}`)],
  };
}

/** The restore failed: the summary condition says why, in words a person can act on. */
export function failed(reason: string, message: string, nowIso: string): RestoreStatusUpdate {
  return { fields: { phase: 'Failed', completionTime: nowIso }, conditions: [cond(C.Succeeded, 'False', reason, message.slice(0, 4000))] };
}

function mergeDisks(current: readonly DiskRestoreStatus[] | undefined, updates: readonly DiskRestoreStatus[]): DiskRestoreStatus[] {
  const out = [...(current ?? [])];
  for (const u of updates) {
    const i = out.findIndex((d) => d.name === u.name);
    if (i >= 0) out[i] = { ...out[i]!, ...u };
    else out.push(u);
  }
  return out;
}

/** Applies an update: fields replace top-level keys (disks merge by name), conditions keep transition times. */
export function applyRestoreUpdate(current: Status | undefined, update: RestoreStatusUpdate, opts: { nowMs: number; generation?: number }): Status {
  const withGen = update.conditions.map((c) => (opts.generation === undefined ? c : { ...c, observedGeneration: opts.generation }));
  const conditions = setConditions(current?.conditions as Condition[] | undefined, withGen, opts.nowMs);
  const fields = update.fields as Status;
  const next: Status = { ...(current ?? {}), ...fields };
  // A fresh start (a list with every disk) replaces; a per-disk update merges.
  if (fields.disks && fields.phase !== 'Running') next.disks = mergeDisks(current?.disks, fields.disks);
  if (conditions.length > 0) next.conditions = [...conditions] as Status['conditions'];
  return next;
}

type Ev = ['Normal' | 'Warning', string, string];

function diskEvents(f: Status): Ev[] {
  // The start writes every disk as Pending; only a later per-disk update is news.
  if (f.phase === 'Running') return [];
  const out: Ev[] = [];
  for (const d of f.disks ?? []) {
    if (d.phase === 'Succeeded') out.push(['Normal', E.DiskRestored, `disk ${d.name} restored into PVC ${d.pvcName ?? ''} (${d.bytesWritten ?? 0} bytes written)`]);
    if (d.phase === 'Failed') out.push(['Warning', E.RestoreFailed, `disk ${d.name}: ${d.message ?? 'failed'}`]);
  }
  return out;
}

function endEvents(f: Status, update: RestoreStatusUpdate): Ev[] {
  const summary = update.conditions.find((c) => c.type === C.Succeeded);
  if (f.phase === 'Succeeded') return [['Normal', E.RestoreSucceeded, summary?.message ?? 'restore succeeded']];
  if (f.phase === 'Failed') return [['Warning', E.RestoreFailed, `${summary?.reason ?? 'Failed'}: ${summary?.message ?? ''}`]];
  return [];
}

/** The Events one status update deserves, as [type, reason, message]. */
export function restoreEvents(update: RestoreStatusUpdate): Ev[] {
  const f = update.fields as Status;
  const out: Ev[] = [];
  if (f.phase === 'Running') out.push(['Normal', E.RestoreStarted, `restoring ${f.disks?.length ?? 0} disk(s) as VirtualMachine ${f.targetVMName ?? ''}`]);
  out.push(...diskEvents(f));
  const vm = update.conditions.find((c) => c.type === C.VirtualMachineReady && c.status === 'True');
  if (vm) out.push(['Normal', vm.reason === R.VolumesSwapped ? E.VolumesSwapped : E.VirtualMachineCreated, vm.message ?? 'VirtualMachine ready']);
  return [...out, ...endEvents(f, update)];
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text.trim());
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the mover's `disk restore --json` report; a foreign, truncated or mismatched report is an error. */
export function parseRestoreReport(text: string, disk: RestoreDisk): DiskRestoreResult {
  const v = parseJson(text);
  if (v === undefined) throw new Error(`the restore pod of disk ${disk.name} did not end with a JSON report: ${JSON.stringify(text.slice(0, 200))}`);
  const nums = ['diskSize', 'bytesWritten', 'bytesDownloaded', 'durationMs'] as const;
  const bad = nums.filter((k) => typeof v[k] !== 'number');
  if (typeof v.backupId !== 'string' || bad.length > 0) throw new Error(`the restore pod's report of disk ${disk.name} is incomplete: ${JSON.stringify(v).slice(0, 300)}`);
  if (v.backupId !== disk.manifestId) throw new Error(`the restore pod of disk ${disk.name} restored backup ${v.backupId}, not ${disk.manifestId}`);
  if ((v.diskSize as number) > disk.sizeBytes) throw new Error(`disk ${disk.name}: the backup holds ${String(v.diskSize)} bytes, more than the ${disk.sizeBytes} the recovery point records`);
  return { backupId: v.backupId, diskSize: v.diskSize as number, bytesWritten: v.bytesWritten as number, bytesDownloaded: v.bytesDownloaded as number, durationMs: v.durationMs as number };
}
