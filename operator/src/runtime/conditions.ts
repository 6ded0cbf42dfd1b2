// Status conditions after the Kubernetes API conventions, as pure functions: lastTransitionTime moves
// only when a condition's status flips, so "since when is this False" stays true across reconciles.

/** A condition's status. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** One entry of status.conditions (metav1.Condition's shape). */
export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  /** CamelCase, machine-readable (constants in operator/src/api/constants.ts). */
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
  readonly lastTransitionTime: string;
}

/** What a reconciler decides about one condition; the time is filled in by setCondition. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/** Formats an instant the way metav1.Time serialises: RFC 3339 in UTC with whole seconds. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** The condition of the given type, if present. */
export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when the condition exists with status True (and, if given, was observed at that generation). */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string, generation?: number): boolean {
  const c = findCondition(conditions, type);
  if (c === undefined || c.status !== 'True') return false;
  return generation === undefined || c.observedGeneration === generation;
}

/**
 * Returns conditions with `update` applied: a new type is appended; an existing one keeps its position and
 * its lastTransitionTime unless the status changed. Returns the same array when nothing changed at all,
 * so callers (and the status writer) can skip no-op writes by identity or deep equality.
 */
export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, nowMs: number): readonly Condition[] {
  const list = conditions ?? [];
  const i = list.findIndex((c) => c.type === update.type);
  const prev = list[i];
  if (prev === undefined) return [...list, withTime(update, formatTime(nowMs))];
  const time = prev.status === update.status ? prev.lastTransitionTime : formatTime(nowMs);
  const next = withTime(update, time);
  if (sameCondition(prev, next)) return list;
  return list.map((c, j) => (j === i ? next : c));
}

/** Applies several updates in order (e.g. a step condition and the summary condition). */
export function setConditions(conditions: readonly Condition[] | undefined, updates: readonly ConditionUpdate[], nowMs: number): readonly Condition[] {
  let out = conditions ?? [];
  for (const u of updates) out = setCondition(out, u, nowMs);
  return out;
}

/** Removes the condition of the given type; returns the same array when it was absent. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): readonly Condition[] {
  const list = conditions ?? [];
  return list.some((c) => c.type === type) ? list.filter((c) => c.type !== type) : list;
}

function withTime(u: ConditionUpdate, lastTransitionTime: string): Condition {
  const c: Condition = { type: u.type, status: u.status, reason: u.reason, message: u.message, lastTransitionTime };
  return u.observedGeneration === undefined ? c : { ...c, observedGeneration: u.observedGeneration };
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration &&
    a.lastTransitionTime === b.lastTransitionTime
  );
}
