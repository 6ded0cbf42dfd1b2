// DBOS against the real Postgres: a workflow process killed with SIGKILL in the middle of a step is
// finished by a new process with the same executor ID and application version, and every step that had
// completed before the kill is not run again.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, testEnv, uniqueSuffix } from '../harness.ts';

const worker = fileURLToPath(new URL('../fixtures/dbos-worker.ts', import.meta.url));

function launch(mode: 'start' | 'recover', env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [worker], { env: { ...process.env, ...env, WORKER_MODE: mode }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  return { child, output: () => out };
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

test('a workflow killed mid-step resumes in a new process; completed steps run once', async () => {
  const suffix = uniqueSuffix();
  const dir = mkdtempSync(join(tmpdir(), 'tresor-dbos-'));
  const log = join(dir, 'steps.log');
  const url = new URL(testEnv().pgUrl);
  url.pathname = `/tresor_dbos_${suffix}`; // a system database of its own: no state from other runs
  const env = {
    WORKER_DB_URL: url.toString(),
    WORKER_EXECUTOR: `executor-${suffix}`,
    WORKER_APP_VERSION: 'foundation-test-v1',
    WORKER_WORKFLOW_ID: `wf-${suffix}`,
    WORKER_LOG: log,
  };

  const first = launch('start', env);
  await eventually('step 2 to start in the first process', async () => (lines(log).includes('step2-start') ? true : undefined), 60_000)
    .catch((err: Error) => { throw new Error(`${err.message}\nworker output:\n${first.output()}`); });
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  assert.equal(lines(log), ['launched-start', 'step1', 'step2-start'], 'the first process got exactly to step 2');

  const second = launch('recover', env);
  const code = await new Promise<number | null>((r) => second.child.once('exit', r));
  assert.is(code, 0, `recovering process failed:\n${second.output()}`);
  assert.match(second.output(), /RESULT job:one-two-three/);

  const count = (l: string): number => lines(log).filter((x) => x === l).length;
  assert.is(count('step1'), 1, 'step 1 completed before the kill and must not run again');
  assert.is(count('step2-start'), 2, 'step 2 was interrupted, so it runs again');
  assert.is(count('step2-done'), 1);
  assert.is(count('step3'), 1);
});

test.run();
