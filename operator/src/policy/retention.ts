// A policy's retention applied to its recovery points, per VM (operator/src/retention/gfs.ts decides):
// a point no rule keeps gets status.expiryTime (when retention released it) and a RecoveryPointExpired
// Event; a point a rule keeps again (retention raised) loses it. Nothing is deleted yet: deleting a
// RecoveryPoint must first forget its manifests in the vault and leave the blocks to the GC's grace
// period, which the vault library does not offer yet (ADR 0072). The newest point of a VM is always kept.
import { ConditionTypes, EventReasons, Labels } from '../api/constants.ts';
import type { RecoveryPointStatus } from '../api/recoverypoint.ts';
import type { BackupPolicyObject, RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
import { findCondition, formatTime, type Condition } from '../runtime/conditions.ts';
import { writeStatus, type StatusApi } from '../runtime/status.ts';
import { applyRetention, type PointInTime } from '../retention/gfs.ts';

/** What applying retention needs. */
export interface RetentionDeps {
  readonly points: StatusApi<RecoveryPointStatus>;
  readonly events: { normal(object: RecoveryPointObject, reason: string, message: string): Promise<void> };
  readonly nowMs?: number;
}

/** What retention decided for one point: expire it (with why not kept) or keep it. */
export interface PointVerdict {
  readonly point: RecoveryPointObject;
  readonly expire: boolean;
  readonly why: readonly string[];
}

/** True for a point of this policy that can be restored from and is not being deleted. */
export function retainable(point: RecoveryPointObject, policy: string): boolean {
  const ofPolicy = point.metadata.labels?.[Labels.Policy] === policy || point.spec.policyName === policy;
  const available = findCondition(point.status?.conditions as Condition[] | undefined, ConditionTypes.Available)?.status === 'True';
  return ofPolicy && available && !point.metadata.deletionTimestamp && Number.isFinite(Date.parse(point.spec.capturedAt));
}

/** Retention's verdict on every retainable point of the policy, VM by VM (pure). */
export function retentionVerdicts(policy: BackupPolicyObject, points: readonly RecoveryPointObject[], jobs: readonly VirtualMachineBackupObject[], nowMs: number): PointVerdict[] {
  const name = policy.metadata.name!;
  const retainUntil = new Map(jobs.map((j) => [j.metadata.name, j.spec.retainUntil ? Date.parse(j.spec.retainUntil) : undefined]));
  const byVm = new Map<string, RecoveryPointObject[]>();
  for (const p of points.filter((x) => retainable(x, name))) byVm.set(p.spec.vmName, [...(byVm.get(p.spec.vmName) ?? []), p]);
  const out: PointVerdict[] = [];
  for (const list of byVm.values()) {
    const inTime: PointInTime[] = list.map((p) => {
      const until = retainUntil.get(p.spec.sourceBackup);
      return { name: p.metadata.name!, capturedMs: Date.parse(p.spec.capturedAt), ...(until !== undefined && Number.isFinite(until) ? { retainUntilMs: until } : {}) };
    });
    const decision = applyRetention(inTime, policy.spec.retention, { timeZone: policy.spec.timeZone ?? 'UTC', nowMs });
    for (const p of list) out.push({ point: p, expire: decision.expire.includes(p.metadata.name!), why: decision.keep.get(p.metadata.name!) ?? [] });
  }
  return out;
}

/** Marks expired points (status.expiryTime) and unmarks points kept again; emits RecoveryPointExpired once per point. */
export async function applyPolicyRetention(policy: BackupPolicyObject, points: readonly RecoveryPointObject[], jobs: readonly VirtualMachineBackupObject[], deps: RetentionDeps): Promise<void> {
  const nowMs = deps.nowMs ?? Date.now();
  for (const v of retentionVerdicts(policy, points, jobs, nowMs)) {
    const marked = v.point.status?.expiryTime !== undefined;
    if (v.expire === marked) continue;
    const ref = { namespace: v.point.metadata.namespace, name: v.point.metadata.name! };
    await writeStatus({
      api: deps.points, ref,
      mutate: (cur) => (v.expire ? { ...cur.status, expiryTime: cur.status?.expiryTime ?? formatTime(nowMs) } : { ...cur.status, expiryTime: undefined }),
    });
    if (v.expire) {
      await deps.events.normal(v.point, EventReasons.RecoveryPointExpired, `released by the retention of BackupPolicy ${policy.metadata.name}: no rule keeps it (the newest point of VM ${v.point.spec.vmName} is always kept); it stays restorable until deletion from the vault is implemented`);
    }
  }
}
