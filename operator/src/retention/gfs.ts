// Which recovery points a policy's retention keeps: the newest `keepLast`, and the newest point of each
// of the last `daily` days, `weekly` ISO weeks, `monthly` months and `yearly` years, in the policy's
// time zone (a 01:30 Berlin backup belongs to its Berlin day). A point is kept while any rule keeps it,
// while its own retainUntil is in the future, or when it is the newest available point (never expire the
// last good copy). Pure: the controller deletes what `expire` lists.

/** The retention counts of a BackupPolicy (absent = 0). */
export interface RetentionRules {
  readonly keepLast?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
}

/** A recovery point as retention sees it. */
export interface PointInTime {
  readonly name: string;
  /** When its snapshot was cut (RecoveryPoint spec.capturedAt), ms since the epoch. */
  readonly capturedMs: number;
  /** spec.retainUntil of its job, if any. */
  readonly retainUntilMs?: number;
}

/** The decision: why each kept point is kept, and the points to delete. */
export interface RetentionDecision {
  readonly keep: ReadonlyMap<string, readonly string[]>;
  readonly expire: readonly string[];
}

type Bucket = 'daily' | 'weekly' | 'monthly' | 'yearly';

/** The calendar bucket of an instant in a time zone: its day, ISO week, month or year. */
export function bucketOf(ms: number, timeZone: string, bucket: Bucket): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(ms);
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value);
  const [y, m, d] = [get('year'), get('month'), get('day')];
  if (bucket === 'yearly') return `${y}`;
  if (bucket === 'monthly') return `${y}-${m}`;
  if (bucket === 'daily') return `${y}-${m}-${d}`;
  // ISO week: the week (Monday first) that holds the Thursday of this date's week, counted from that year's first.
  const date = new Date(Date.UTC(y, m - 1, d));
  date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7) + 3);
  const weekYear = date.getUTCFullYear();
  const week = 1 + Math.floor((date.getTime() - Date.UTC(weekYear, 0, 1)) / (7 * 86_400_000));
  return `${weekYear}-W${week}`;
}

/** Applies retention rules to the points of one VM under one policy. */
export function applyRetention(points: readonly PointInTime[], rules: RetentionRules, opts: { timeZone: string; nowMs: number }): RetentionDecision {
  const newestFirst = [...points].sort((a, b) => b.capturedMs - a.capturedMs || a.name.localeCompare(b.name));
  const keep = new Map<string, string[]>();
  const mark = (p: PointInTime, why: string): void => {
    keep.set(p.name, [...(keep.get(p.name) ?? []), why]);
  };
  newestFirst.slice(0, rules.keepLast ?? 0).forEach((p, i) => mark(p, `last ${i + 1}`));
  for (const bucket of ['daily', 'weekly', 'monthly', 'yearly'] as const) {
    const limit = rules[bucket] ?? 0;
    const seen = new Set<string>();
    for (const p of newestFirst) {
      if (seen.size >= limit) break;
      const b = bucketOf(p.capturedMs, opts.timeZone, bucket);
      if (seen.has(b)) continue;
      seen.add(b);
      mark(p, `${bucket} ${b}`);
    }
  }
  for (const p of newestFirst) if (p.retainUntilMs !== undefined && p.retainUntilMs > opts.nowMs) mark(p, 'retainUntil');
  const newest = newestFirst[0];
  if (newest && !keep.has(newest.name)) mark(newest, 'newest');
  return { keep, expire: newestFirst.filter((p) => !keep.has(p.name)).map((p) => p.name) };
}
