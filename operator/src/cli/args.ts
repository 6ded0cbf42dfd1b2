// Command-line parsing helpers shared by the subcommands.
import { parseArgs } from 'node:util';

/** Thrown for bad command lines; the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Option names each subcommand accepts (all string-valued unless listed in FLAGS). */
const FLAGS = new Set(['json', 'progress', 'progress-events', 'read-data', 'repair', 'allow-empty', 'dry-run', 'force', 'help']);

/** Parses `--name value` and `--flag` options; rejects unknown ones with the list of known ones. */
export function parseOptions(argv: readonly string[], allowed: readonly string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const name of [...allowed, 'help']) options[name] = { type: FLAGS.has(name) ? 'boolean' : 'string' };
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: false, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; known options: ${allowed.map((a) => `--${a}`).join(' ')}`);
  }
}

/** A required string option, or a UsageError naming it. */
export function required(opts: Record<string, string | boolean | undefined>, name: string): string {
  const v = opts[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** An optional string option. */
export function optional(opts: Record<string, string | boolean | undefined>, name: string): string | undefined {
  const v = opts[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Parses durations like 90s, 30m, 1h, 2d or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`bad duration '${text}': use e.g. 0, 90s, 30m, 1h or 2d`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Number(m[1]) * unit;
}

/** Parses a positive integer option. */
export function parseCount(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${text}'`);
  return n;
}
