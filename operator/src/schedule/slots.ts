// When a policy's schedule fires, in the policy's time zone: the next slot after an instant, and the
// slot that is due now (the latest missed one within the starting deadline — never a burst of all the
// runs missed while the operator was down). Pure functions over a parsed cron schedule.
import type { CronSchedule } from '../api/cron.ts';

const MINUTE = 60_000;
/** Look no further than this for the next slot (a schedule such as "0 0 30 2 *" never fires). */
const HORIZON_MS = 5 * 366 * 24 * 60 * MINUTE;

interface Local {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly weekday: number;
  readonly hour: number;
  readonly minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', weekday: 'short', hour: 'numeric', minute: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The wall-clock fields of an instant in a time zone. */
function local(ms: number, timeZone: string): Local {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(ms)) parts[p.type] = p.value;
  return {
    year: Number(parts.year), month: Number(parts.month), day: Number(parts.day),
    weekday: WEEKDAYS.indexOf(parts.weekday ?? ''), hour: Number(parts.hour), minute: Number(parts.minute),
  };
}

function dayMatches(s: CronSchedule, l: Local): boolean {
  if (!s.months.has(l.month)) return false;
  const dom = s.daysOfMonth.has(l.day);
  const dow = s.daysOfWeek.has(l.weekday);
  // cron's rule: when both day fields are restricted, either may match; when one is `*`, the other decides.
  if (s.anyDayOfMonth && s.anyDayOfWeek) return true;
  if (s.anyDayOfMonth) return dow;
  if (s.anyDayOfWeek) return dom;
  return dom || dow;
}

/**
 * Minutes to skip from `l` when it cannot match. To the next hour start is exact (DST changes happen at
 * hour starts). To the next day is an hour short, because a spring-forward change inside the jump would
 * otherwise land past the first hour of the next day; the hour skip then finishes the way.
 */
function skipMinutes(s: CronSchedule, l: Local): number {
  if (!dayMatches(s, l)) return Math.max(60 - l.minute, (23 - l.hour) * 60 - l.minute);
  if (!s.hours.has(l.hour)) return 60 - l.minute;
  return s.minutes.has(l.minute) ? 0 : 1;
}

/** True when `ms` is the second pass through a wall-clock minute repeated by a DST change (it fires once). */
function repeatedByDst(ms: number, timeZone: string): boolean {
  const a = local(ms, timeZone);
  const b = local(ms - 60 * MINUTE, timeZone);
  return a.hour === b.hour && a.minute === b.minute && a.day === b.day;
}

/**
 * The first slot strictly after `afterMs`, in milliseconds since the epoch, or undefined if the schedule
 * never fires within five years. Wall-clock times skipped by a DST change do not fire; repeated ones fire once.
 */
export function nextSlot(s: CronSchedule, timeZone: string, afterMs: number): number | undefined {
  let t = Math.floor(afterMs / MINUTE) * MINUTE + MINUTE;
  const end = afterMs + HORIZON_MS;
  while (t <= end) {
    const skip = skipMinutes(s, local(t, timeZone));
    if (skip === 0) {
      if (!repeatedByDst(t, timeZone)) return t;
      t += MINUTE;
    } else {
      t += skip * MINUTE;
    }
  }
  return undefined;
}

/** What the scheduler should do now. */
export interface DueSlots {
  /** The slot to run now, if one is due and not older than the starting deadline. */
  readonly run?: number;
  /** Slots that were due but are too old to start (counted for a metric and an event, not run). */
  readonly missed: number;
  /** The latest slot at or before now, run or not: what status.lastScheduleTime records as handled. */
  readonly latest?: number;
  /** The next slot after now, for status.nextScheduleTime and the requeue delay. */
  readonly next?: number;
}

/**
 * Given the last slot handled (or the policy's creation), decides which slot is due at `nowMs`: the latest
 * one not older than `startingDeadlineMs`; earlier missed slots are only counted (at most 1,000 looked at).
 */
export function dueSlots(s: CronSchedule, timeZone: string, opts: { lastMs: number; nowMs: number; startingDeadlineMs: number }): DueSlots {
  let latest: number | undefined;
  let count = 0;
  for (let t = nextSlot(s, timeZone, opts.lastMs); t !== undefined && t <= opts.nowMs && count < 1000; t = nextSlot(s, timeZone, t)) {
    latest = t;
    count++;
  }
  const next = nextSlot(s, timeZone, opts.nowMs);
  const base = next === undefined ? {} : { next };
  if (latest === undefined) return { missed: 0, ...base };
  if (opts.nowMs - latest > opts.startingDeadlineMs) return { missed: count, latest, ...base };
  return { run: latest, missed: count - 1, latest, ...base };
}
