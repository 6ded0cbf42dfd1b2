// Writing a job's status through the runtime's one status writer, and the Events a person should see
// when a write marks a milestone. Events go out only when the write changed something, so a workflow
// step replayed after a crash does not announce the same milestone twice.
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, EventReasons, Kinds, Reasons } from '../../api/constants.ts';
import type { VirtualMachineBackupStatus } from '../../api/virtualmachinebackup.ts';
import { setConditions, type Condition } from '../../runtime/conditions.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import { writeStatus, type StatusApi } from '../../runtime/status.ts';
import type { JobRef, JobStatusUpdate } from '../ports.ts';

type Status = VirtualMachineBackupStatus & Record<string, unknown>;

/** The consistency reasons that mean "weaker than the guest should have allowed" (a Warning). */
const DEGRADED = new Set<string>([Reasons.GuestAgentNotConnected, Reasons.FreezeFailed, Reasons.FreezeTimedOut, Reasons.HookFailed]);

/** Applies an update to a status: fields replace top-level keys, conditions merge keeping transition times. */
export function applyUpdate(current: Status | undefined, update: JobStatusUpdate, opts: { nowMs: number; generation?: number }): Status {
  const withGen = update.conditions.map((c) => (opts.generation === undefined ? c : { ...c, observedGeneration: opts.generation }));
  const conditions = setConditions(current?.conditions as Condition[] | undefined, withGen, opts.nowMs);
  const next: Status = { ...(current ?? {}), ...(update.fields as Status) };
  if (conditions.length > 0) next.conditions = [...conditions] as Status['conditions'];
  return next;
}

type Ev = ['Normal' | 'Warning', string, string];

function startEvents(f: Status): Ev[] {
  if (f.phase !== 'Running') return [];
  const out: Ev[] = [['Normal', EventReasons.BackupStarted, `backing up ${f.disks?.length ?? 0} disk(s) into vault ${f.vaultName ?? ''}`]];
  const g = f.guestAgent;
  if (g) out.push(g.connected ? ['Normal', EventReasons.GuestAgentFound, g.message ?? 'qemu-guest-agent connected'] : ['Warning', EventReasons.GuestAgentMissing, g.message ?? 'no guest agent']);
  return out;
}

function snapshotEvents(f: Status): Ev[] {
  const c = f.consistency;
  if (!c) return [];
  const taken: Ev = ['Normal', EventReasons.SnapshotTaken, `${c.level}: ${c.message ?? c.reason}`];
  return DEGRADED.has(c.reason) ? [['Warning', EventReasons.ConsistencyDegraded, `${c.level} (${c.reason}): ${c.message ?? ''}`], taken] : [taken];
}

/** The events one status update deserves, as [type, reason, message]. */
export function eventsFor(update: JobStatusUpdate): Ev[] {
  const f = update.fields as Status;
  const out: Ev[] = [...startEvents(f), ...snapshotEvents(f)];
  if (f.recoveryPointName) out.push(['Normal', EventReasons.RecoveryPointCreated, `recovery point ${f.recoveryPointName} recorded`]);
  const summary = update.conditions.find((c) => c.type === 'Succeeded');
  if (f.phase === 'Succeeded') out.push(['Normal', EventReasons.BackupSucceeded, summary?.message ?? 'backup succeeded']);
  if (f.phase === 'Failed') out.push(['Warning', EventReasons.BackupFailed, `${summary?.reason ?? 'Failed'}: ${summary?.message ?? ''}`]);
  return out;
}

/** The job as an involved object for Events. */
export function jobObject(job: JobRef): KubernetesObject {
  return { apiVersion: API_VERSION, kind: Kinds.VirtualMachineBackup, metadata: { name: job.name, namespace: job.namespace, uid: job.uid } };
}

/** Options of writeJobStatus. */
export interface WriteJobStatus {
  readonly api: StatusApi<Status>;
  readonly events?: EventRecorder;
  readonly job: JobRef;
  readonly update: JobStatusUpdate;
  readonly now?: () => number;
}

/** Writes one status update of a job (re-read, merge, precondition, retry) and records its events. */
export async function writeJobStatus(o: WriteJobStatus): Promise<void> {
  const now = o.now ?? Date.now;
  const result = await writeStatus<Status>({
    api: o.api,
    ref: { namespace: o.job.namespace, name: o.job.name },
    mutate: (cur) => applyUpdate(cur.status, o.update, { nowMs: now(), generation: cur.generation }),
  });
  if (result !== 'written' || o.events === undefined) return;
  for (const [type, reason, message] of eventsFor(o.update)) await o.events.record({ object: jobObject(o.job), type, reason, message });
}
