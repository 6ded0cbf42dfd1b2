// Go-style durations (`90s`, `1h30m`, `250ms`) as the API's duration fields hold them.
import { DURATION_PATTERN, rule, type Rule } from './schema.ts';

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in a Go-style duration string; throws on anything else. */
export function parseDuration(text: string): number {
  if (!new RegExp(DURATION_PATTERN).test(text)) throw new Error(`"${text}" is not a duration like 30s, 5m or 1h30m`);
  let ms = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/** A predicate for CEL range rules on duration fields: true when `text` parses and lies within [min, max]. */
export function durationWithin(minMs: number, maxMs: number): (text: string) => boolean {
  return (text) => {
    try {
      const ms = parseDuration(text);
      return ms >= minMs && ms <= maxMs;
    } catch {
      return false;
    }
  };
}

/**
 * A CEL range rule on a duration field and its JavaScript twin. The rule first re-checks the pattern so
 * that a malformed value gets only the pattern's error, not also a CEL type-conversion error.
 */
export function durationRule(what: string, min: string, max: string): Rule {
  return rule(
    {
      rule: `!self.matches('${DURATION_PATTERN}') || (duration(self) >= duration('${min}') && duration(self) <= duration('${max}'))`,
      message: `${what} must be between ${min} and ${max}`,
    },
    durationWithin(parseDuration(min), parseDuration(max)),
  );
}
