// Cron expressions as BackupPolicy.spec.schedule accepts them: five fields (minute hour day-of-month month
// day-of-week) with lists, ranges, steps and month/day names, or one of the @-macros. The CEL rule in the
// CRD only checks the shape; this module checks every value, for the CLI and for the controller.

/** The shape the apiserver checks (CEL regex; RE2 syntax, no escapes needed). */
export const CRON_SHAPE =
  '^(@(annually|yearly|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4})$';

const MACROS: Readonly<Record<string, string>> = {
  '@annually': '0 0 1 1 *',
  '@yearly': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** A parsed schedule: the allowed values of each field (day of week 7 folded into 0). */
export interface CronSchedule {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
  /** True when day of month was `*`; cron then matches on day of week alone (and vice versa). */
  readonly anyDayOfMonth: boolean;
  readonly anyDayOfWeek: boolean;
}

function value(text: string, f: FieldSpec): number {
  const byName = f.names?.indexOf(text.toUpperCase()) ?? -1;
  if (byName >= 0) return byName + (f.min === 1 ? 1 : 0);
  if (!/^[0-9]+$/.test(text)) throw new Error(`${f.name}: "${text}" is not a number${f.names ? ' or name' : ''}`);
  const n = Number(text);
  if (n < f.min || n > f.max) throw new Error(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
  return n;
}

function item(text: string, f: FieldSpec, out: Set<number>): void {
  const [range = '', stepText, extra] = text.split('/');
  if (extra !== undefined) throw new Error(`${f.name}: "${text}" has more than one step`);
  const step = stepText === undefined ? 1 : Number(stepText);
  if (!Number.isInteger(step) || step < 1 || !/^[0-9]+$/.test(stepText ?? '1')) throw new Error(`${f.name}: bad step in "${text}"`);
  let lo: number;
  let hi: number;
  if (range === '*' || range === '?') {
    [lo, hi] = [f.min, f.max];
  } else {
    const [a = '', b] = range.split('-');
    lo = value(a, f);
    hi = b === undefined ? (stepText === undefined ? lo : f.max) : value(b, f);
    if (hi < lo) throw new Error(`${f.name}: range "${range}" runs backwards`);
  }
  for (let v = lo; v <= hi; v += step) out.add(v);
}

function field(text: string, f: FieldSpec): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    if (part === '') throw new Error(`${f.name}: empty list item in "${text}"`);
    item(part, f, out);
  }
  return out;
}

/** Parses a cron expression; throws an Error naming the bad field and value. */
export function parseCron(expression: string): CronSchedule {
  const expanded = MACROS[expression.trim()] ?? expression.trim();
  if (expanded.startsWith('@')) throw new Error(`unknown macro "${expression}"`);
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) throw new Error(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const sets = parts.map((p, i) => field(p, FIELDS[i]!));
  const dow = sets[4]!;
  if (dow.delete(7)) dow.add(0);
  return {
    minutes: sets[0]!,
    hours: sets[1]!,
    daysOfMonth: sets[2]!,
    months: sets[3]!,
    daysOfWeek: dow,
    anyDayOfMonth: parts[2] === '*' || parts[2] === '?',
    anyDayOfWeek: parts[4] === '*' || parts[4] === '?',
  };
}

/** Whether `expression` is a valid cron expression. */
export function isValidCron(expression: string): boolean {
  try {
    parseCron(expression);
    return new RegExp(CRON_SHAPE).test(expression);
  } catch {
    return false;
  }
}

/** IANA's current names for zones ICU still lists under their older CLDR ids (Asia/Calcutta is Asia/Kolkata). */
const IANA_RENAMES = [
  'Africa/Asmara', 'America/Argentina/Buenos_Aires', 'America/Argentina/Catamarca', 'America/Argentina/Cordoba', 'America/Argentina/Jujuy',
  'America/Argentina/Mendoza', 'America/Atikokan', 'America/Indiana/Indianapolis', 'America/Kentucky/Louisville', 'America/Nuuk',
  'Asia/Ho_Chi_Minh', 'Asia/Kathmandu', 'Asia/Kolkata', 'Asia/Yangon', 'Atlantic/Faroe', 'Europe/Kyiv', 'Pacific/Chuuk', 'Pacific/Kanton', 'Pacific/Pohnpei',
];

/**
 * The time zones the CRD accepts (review L3): the zones this Node's ICU lists, IANA's current names for
 * those it lists under older ids, UTC, GMT and the fixed Etc/ offsets, each checked against Intl, sorted.
 * Other links such as US/Eastern are left out on purpose (write America/New_York): the CRD is generated,
 * so the list must not depend on the machine's tzdata.
 */
export function admittedTimeZones(): string[] {
  const etc = ['UTC', 'GMT', 'Etc/UTC', 'Etc/GMT', ...Array.from({ length: 14 }, (_, i) => [`Etc/GMT+${i + 1}`, `Etc/GMT-${i + 1}`]).flat()];
  return [...new Set([...Intl.supportedValuesOf('timeZone'), ...IANA_RENAMES, ...etc])].filter(isValidTimeZone).sort();
}

/** True when a schedule fires at most once an hour: a macro, or a single minute (e.g. `30 * * * *`). */
export function isAtMostHourly(schedule: string): boolean {
  return /^(@.*|[0-9]+ +.*)$/.test(schedule.trim());
}

/** Whether `zone` is an IANA time zone this runtime knows (what the scheduler will use). */
export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
