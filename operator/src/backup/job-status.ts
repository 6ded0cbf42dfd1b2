// The status a backup job shows at each stage, as pure functions of what the workflow knows. Conditions
// follow the seed's steps (SnapshotTaken -> DataTransferred -> SnapshotDeleted) with the summary
// Succeeded; phase is only their projection for kubectl get.
import { ConditionTypes as C, Reasons as R } from '../api/constants.ts';
import type { ConditionUpdate } from '../runtime/conditions.ts';
import type { ConsistencyOutcome } from './consistency.ts';
import type { JobObservation, JobStatusUpdate, TransferOutcome, VmDisk } from './ports.ts';
import { jobProgress, type DiskProgressEntry } from './progress.ts';

const cond = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string): ConditionUpdate => ({ type, status, reason, message });

/** The job has started: guest observed, nothing cut yet. */
export function started(obs: JobObservation, nowIso: string): JobStatusUpdate {
  return {
    fields: {
      phase: 'Running',
      startTime: nowIso,
      vaultName: obs.vaultName,
      guestAgent: { connected: obs.guest.agentConnected, message: guestMessage(obs) },
      disks: obs.disks.map((d) => diskEntry(d, obs.forceFull)),
      progress: jobProgress(obs.disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes }))),
    },
    conditions: [
      cond(C.SnapshotTaken, 'False', R.Pending, 'waiting for the snapshot'),
      cond(C.Succeeded, 'Unknown', R.InProgress, `backing up ${obs.disks.length} disk(s) of ${obs.vmName}`),
    ],
  };
}

function guestMessage(obs: JobObservation): string {
  if (!obs.guest.running) return 'the VM is stopped';
  return obs.guest.agentConnected ? `qemu-guest-agent connected (${obs.guest.os})` : 'the VMI does not report AgentConnected';
}

function diskEntry(d: VmDisk, forceFull: boolean): Record<string, unknown> {
  return { name: d.name, pvcName: d.pvcName, volumeMode: d.volumeMode, sizeBytes: d.sizeBytes, requestedType: forceFull ? 'Full' : 'Incremental', phase: 'Pending' };
}

/** The snapshot is cut: record the consistency reached and why. */
export function snapshotTaken(consistency: ConsistencyOutcome, snapshots: ReadonlyArray<{ disk: string; snapshotName: string }>): JobStatusUpdate {
  return {
    fields: {
      consistency: { level: consistency.level, reason: consistency.reason, message: consistency.message },
      snapshots: snapshots.map((s) => ({ disk: s.disk, name: s.snapshotName })),
    },
    conditions: [
      cond(C.SnapshotTaken, 'True', consistency.reason, `${consistency.level}: ${consistency.message}`),
      cond(C.DataTransferred, 'False', R.InProgress, 'transferring disks to the vault'),
    ],
  };
}

/** One disk's status entry after its transfer ended. */
export function diskResult(d: VmDisk, forceFull: boolean, outcome: TransferOutcome, attempts: number): Record<string, unknown> {
  const base = { ...diskEntry(d, forceFull), attempts };
  if (!outcome.ok) return { ...base, phase: 'Failed', message: outcome.message };
  const r = outcome.result;
  return {
    ...base,
    phase: 'Succeeded',
    type: r.type,
    changeDetection: r.changeDetection,
    ...(r.fallbackReason ? { fallbackReason: r.fallbackReason } : {}),
    ...(r.fallbackMessage ? { fallbackMessage: r.fallbackMessage } : {}),
    manifestId: r.manifestId,
    ...(r.parentManifestId ? { parentManifestId: r.parentManifestId } : {}),
    bytesRead: r.bytesRead,
    bytesUploaded: r.bytesUploaded,
    progress: { bytesDone: d.sizeBytes, bytesTotal: d.sizeBytes, percent: 100 },
  };
}

/** Every disk is in the vault and the recovery point is recorded; cleanup comes next. */
export function transferred(disks: readonly Record<string, unknown>[], recoveryPointName: string): JobStatusUpdate {
  const full = disks.every((d) => d.type === 'Full');
  return {
    fields: { disks, recoveryPointName, backupType: full ? 'Full' : 'Incremental', progress: jobProgress(disks as unknown as readonly DiskProgressEntry[]) },
    conditions: [cond(C.DataTransferred, 'True', R.Completed, `${disks.length} disk(s) in the vault; recovery point ${recoveryPointName}`)],
  };
}

/** Snapshots and temporary PVCs are gone (or kept as the instant-restore tier): the job succeeded. */
export function succeeded(keptSnapshots: boolean, nowIso: string): JobStatusUpdate {
  return {
    fields: { phase: 'Succeeded', completionTime: nowIso },
    conditions: [
      cond(C.SnapshotDeleted, 'True', R.Completed, keptSnapshots ? 'temporary PVCs deleted; snapshots kept as the instant-restore tier' : 'snapshots and temporary PVCs deleted'),
      cond(C.Succeeded, 'True', R.Completed, 'recovery point recorded'),
    ],
  };
}

/**
 * The job failed: the summary condition says why, in words a person can act on. The step that was under
 * way (`openStep`) is closed with the same reason instead of staying Pending/InProgress, and since every
 * failure path cleans up first, SnapshotDeleted says the snapshots and temporary PVCs are gone.
 */
export function failed(reason: string, message: string, nowIso: string, openStep?: string): JobStatusUpdate {
  return {
    fields: { phase: 'Failed', completionTime: nowIso },
    conditions: [
      cond(C.Succeeded, 'False', reason, message),
      ...(openStep ? [cond(openStep, 'False', reason, `did not complete: ${message}`)] : []),
      cond(C.SnapshotDeleted, 'True', R.Completed, 'snapshots and temporary PVCs deleted after the failure'),
    ],
  };
}
