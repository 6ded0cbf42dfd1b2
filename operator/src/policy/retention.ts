// A policy's retention applied to its recovery points, per VM (operator/src/retention/gfs.ts decides):
// a point no rule keeps gets status.expiryTime (when retention released it) and a RecoveryPointExpired
// Event, and is then deleted; its finalizer forgets its manifests in the vault and GC reclaims the blocks
// no other point uses (ADR 0073). A point a rule keeps again (retention raised) before it is deleted loses
// its expiryTime. The newest point of a VM is always kept, and only the policy's own points are touched.
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
  /** Deletes an expired point (precondition: its UID); without it retention only marks (ADR 0072). */
  readonly deletePoint?: (point: RecoveryPointObject) => Promise<void>;
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

/** The expired points retention may delete: the policy's own, never the newest of a VM (a second guard besides gfs.ts). */
export function deletable(policy: string, verdicts: readonly PointVerdict[]): RecoveryPointObject[] {
  const newest = new Map<string, RecoveryPointObject>();
  for (const { point } of verdicts) {
    const cur = newest.get(point.spec.vmName);
    if (!cur || Date.parse(point.spec.capturedAt) > Date.parse(cur.spec.capturedAt)) newest.set(point.spec.vmName, point);
  }
  const own = (p: RecoveryPointObject): boolean => (p.spec.policyName ?? p.metadata.labels?.[Labels.Policy]) === policy;
  return verdicts.filter((v) => v.expire && own(v.point) && newest.get(v.point.spec.vmName) !== v.point).map((v) => v.point);
}

/**
 * Marks expired points (status.expiryTime) and unmarks points kept again, emitting RecoveryPointExpired
 * once per point; then deletes the expired points when deletePoint is given.
 */
export async function applyPolicyRetention(policy: BackupPolicyObject, points: readonly RecoveryPointObject[], jobs: readonly VirtualMachineBackupObject[], deps: RetentionDeps): Promise<void> {
  const nowMs = deps.nowMs ?? Date.now();
  const verdicts = retentionVerdicts(policy, points, jobs, nowMs);
  await markExpiry(policy, verdicts, deps, nowMs);
  if (!deps.deletePoint) return;
  for (const p of deletable(policy.metadata.name!, verdicts)) {
    await deps.deletePoint(p);
    await deps.events.normal(p, EventReasons.RecoveryPointDeleted, `deleted by the retention of BackupPolicy ${policy.metadata.name}; its data is forgotten in vault ${p.spec.vaultRef.name} (unless the vault's retention lock keeps it, see the point's VaultDataForgotten condition)`);
  }
}

async function markExpiry(policy: BackupPolicyObject, verdicts: readonly PointVerdict[], deps: RetentionDeps, nowMs: number): Promise<void> {
  for (const v of verdicts) {
    const marked = v.point.status?.expiryTime !== undefined;
    if (v.expire === marked) continue;
    const ref = { namespace: v.point.metadata.namespace, name: v.point.metadata.name! };
    await writeStatus({
      api: deps.points, ref,
      mutate: (cur) => (v.expire ? { ...cur.status, expiryTime: cur.status?.expiryTime ?? formatTime(nowMs) } : { ...cur.status, expiryTime: undefined }),
    });
    if (v.expire) {
      await deps.events.normal(v.point, EventReasons.RecoveryPointExpired, `released by the retention of BackupPolicy ${policy.metadata.name}: no rule keeps it (the newest point of VM ${v.point.spec.vmName} is always kept)${deps.deletePoint ? '; deleting it' : ''}`);
    }
  }
}
