// Reads uvu's closing summary from a suite process's output and decides whether the suite ran to the end.

/** What one suite file (or one check) contributed to the closing line. */
export interface SuiteResult {
  readonly file: string;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** False when the file crashed, timed out, or a hook threw (uvu then reports Total > Passed with exit 0). */
  readonly complete: boolean;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** Parses uvu's `Total/Passed/Skipped` lines; anything missing or inconsistent marks the suite incomplete. */
export function parseSummary(file: string, output: string, code: number | null, timedOut: boolean): SuiteResult {
  const text = output.replace(ANSI, '');
  const num = (label: string): number | undefined => {
    const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm'))];
    const last = all.at(-1);
    return last ? Number(last[1]) : undefined;
  };
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped') ?? 0;
  if (total === undefined || passed === undefined) {
    return { file, passed: 0, failed: 1, skipped: 0, complete: false };
  }
  // uvu's Total counts the tests it ran; skipped ones are not in it. So the failures are exactly the
  // tests that ran and did not pass (subtracting Skipped as well would hide a failure behind a skip).
  const missing = Math.max(0, total - passed);
  // With exit 0 and tests missing, a hook threw and uvu hid it: count them failed and flag the suite.
  const complete = !timedOut && code !== null && (code !== 0 || missing === 0) && total > 0;
  // A non-zero exit with every test passed (a crash after the summary) still fails the suite.
  const failed = complete && !(code !== 0 && missing === 0) ? missing : Math.max(missing, 1);
  return { file, passed, failed, skipped, complete };
}

/** Sums suite results into the closing line's numbers. */
export function tally(results: readonly SuiteResult[]): { passed: number; failed: number; skipped: number } {
  return results.reduce(
    (t, r) => ({ passed: t.passed + r.passed, failed: t.failed + r.failed, skipped: t.skipped + r.skipped }),
    { passed: 0, failed: 0, skipped: 0 },
  );
}
