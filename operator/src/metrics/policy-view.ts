// What the alerts need to know about each BackupPolicy, as pure functions: how long its schedule may
// leave a VM without a backup (the longest gap between two consecutive slots, so a weekday-only or weekly
// schedule gets its own threshold instead of one fixed "26 h"), and whether it is suspended.
import { parseCron } from '../api/cron.ts';
import type { BackupPolicyObject } from '../api/types.ts';
import { nextSlot } from '../schedule/slots.ts';

const DAY_MS = 86_400_000;
/** Look this far ahead for gaps: a year and a bit covers @yearly, and each weekday/month pattern. */
const HORIZON_MS = 400 * DAY_MS;
const MAX_SLOTS = 2000;

/** Per policy: the facts the missing-backup alert is scaled by. */
export interface PolicyFacts {
  readonly namespace: string;
  readonly policy: string;
  /** Longest time between two consecutive slots in the next ~400 days, in seconds; undefined if it cannot be computed. */
  readonly maxIntervalSeconds: number | undefined;
  readonly suspended: boolean;
}

/**
 * The longest gap between consecutive slots of `schedule` in `timeZone`, looking ahead from `fromMs`
 * (at most 2000 slots, or fewer once the gaps have covered a full month twice over). Undefined for an
 * invalid schedule or one that fires fewer than twice in the horizon.
 */
export function maxScheduleGapMs(schedule: string, timeZone: string, fromMs: number): number | undefined {
  let cron;
  try {
    cron = parseCron(schedule);
  } catch {
    return undefined;
  }
  let prev = nextSlot(cron, timeZone, fromMs);
  let max: number | undefined;
  for (let i = 0; prev !== undefined && i < MAX_SLOTS && prev - fromMs < HORIZON_MS; i++) {
    const next = nextSlot(cron, timeZone, prev);
    if (next === undefined) break;
    max = Math.max(max ?? 0, next - prev);
    prev = next;
    // Dense schedules (hourly, every few minutes) repeat within 62 days: their worst gap is known by then.
    if (prev - fromMs > 62 * DAY_MS && i > 60) break;
  }
  return max;
}

/** Caches gaps per schedule and zone: they depend on the calendar only (and DST), not on the scrape. */
export class ScheduleGaps {
  private readonly cache = new Map<string, number | undefined>();

  /** The policy's facts at `nowMs`. */
  facts(p: BackupPolicyObject, nowMs: number): PolicyFacts {
    const zone = p.spec.timeZone ?? 'UTC';
    const key = `${p.spec.schedule}\u0000${zone}`;
    if (!this.cache.has(key)) this.cache.set(key, maxScheduleGapMs(p.spec.schedule, zone, nowMs));
    const gap = this.cache.get(key);
    return {
      namespace: p.metadata.namespace ?? '',
      policy: p.metadata.name ?? '',
      maxIntervalSeconds: gap === undefined ? undefined : gap / 1000,
      suspended: p.spec.suspend === true,
    };
  }
}
