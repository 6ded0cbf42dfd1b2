// The runner must catch what uvu hides: a hook that throws, a crash before the summary, a failing test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSummary, tally } from '../summary.ts';

const uvu = new URL('../../node_modules/uvu/dist/index.mjs', import.meta.url).href;
const assertMod = new URL('../../node_modules/uvu/assert/index.mjs', import.meta.url).href;

/** Runs a real uvu suite in a child process and returns its parsed result. */
function runSuite(body: string): ReturnType<typeof parseSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'tresor-runner-'));
  const file = join(dir, 'case.test.mjs');
  writeFileSync(file, `import { suite } from '${uvu}';\nimport * as assert from '${assertMod}';\n${body}`);
  const p = spawnSync(process.execPath, [file], { encoding: 'utf8' });
  return parseSummary('case', p.stdout + p.stderr, p.status, false);
}

test('a passing suite is complete with its counts', () => {
  const r = runSuite(`const s = suite('ok'); s('a', () => {}); s('b', () => {}); s.skip('c', () => {}); s.run();`);
  assert.equal(r, { file: 'case', passed: 2, failed: 0, skipped: 1, complete: true });
});

test('a failing test counts as failed, suite still complete', () => {
  const r = runSuite(`const s = suite('f'); s('a', () => {}); s('b', () => { assert.ok(false); }); s.run();`);
  assert.equal(r, { file: 'case', passed: 1, failed: 1, skipped: 0, complete: true });
});

test('a failure next to a skipped test is still a failure (uvu leaves skipped tests out of Total)', () => {
  const r = runSuite(`const s = suite('fs'); s('a', () => {}); s('b', () => { assert.ok(false); }); s.skip('c', () => {}); s.skip('d', () => {}); s.run();`);
  assert.equal(r, { file: 'case', passed: 1, failed: 1, skipped: 2, complete: true });
});

test('an exit code other than 0 after all tests passed still fails the suite', () => {
  const r = runSuite(`const s = suite('late'); s('a', () => {}); s.after(() => { setTimeout(() => process.exit(4), 50); }); s.run();`);
  assert.is(r.passed, 1);
  assert.is(r.failed, 1);
});

test('a throwing before hook, which uvu reports with exit 0, is incomplete and failed', () => {
  const r = runSuite(`const s = suite('h'); s.before(() => { throw new Error('boom'); }); s('a', () => {}); s('b', () => {}); s.run();`);
  assert.is(r.complete, false);
  assert.is(r.failed, 2);
  assert.is(r.passed, 0);
});

test('a crash before the summary is incomplete and failed', () => {
  const r = runSuite(`process.exit(3);`);
  assert.equal(r, { file: 'case', passed: 0, failed: 1, skipped: 0, complete: false });
});

test('tally adds suites up', () => {
  const t = tally([
    { file: 'a', passed: 2, failed: 1, skipped: 0, complete: true },
    { file: 'b', passed: 3, failed: 0, skipped: 2, complete: true },
  ]);
  assert.equal(t, { passed: 5, failed: 1, skipped: 2 });
});

test.run();
