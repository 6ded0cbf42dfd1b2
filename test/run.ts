// The test command: type-check, lint, then run every uvu suite file in its own Node process and print one
// closing line `N passed, N failed, N skipped`. A suite that did not run to the end counts as failed:
// uvu swallows errors thrown in before/after hooks (it still exits 0 and prints Total > Passed + Skipped),
// and a process that crashes prints no summary at all. Integration suites get the local environment
// (control plane, Postgres, S3) from hack/env.sh, started here unless one is already exported.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSummary, type SuiteResult, tally } from './summary.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const SUITE_TIMEOUT_MS = 20 * 60_000;

interface Options {
  readonly unitOnly: boolean;
  readonly skipChecks: boolean;
  readonly filters: readonly string[];
}

function parseArgs(argv: readonly string[]): Options {
  const filters = argv.filter((a) => !a.startsWith('--'));
  return { unitOnly: argv.includes('--unit'), skipChecks: argv.includes('--no-checks'), filters };
}

function findTests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

/** Suites under test/integration and test/e2e talk to the real control plane, Postgres and S3 server. */
function needsEnvironment(file: string): boolean {
  const rel = relative(root, file);
  return rel.startsWith('test/integration/') || rel.startsWith('test/e2e/');
}

interface Proc {
  readonly code: number | null;
  readonly output: string;
  readonly timedOut: boolean;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Proc> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let timedOut = false;
    const onData = (b: Buffer): void => {
      output += b.toString();
      process.stdout.write(b);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

/**
 * Reuses the environment the caller exported (`eval "$(npm run -s env:up)"` sets TRESOR_ENV_DIR), or
 * starts a private one for this run in its own state directory and stops it afterwards, so a test run
 * never stops an environment somebody else is using.
 */
async function envUp(): Promise<{ vars: Record<string, string>; started: boolean }> {
  if (process.env.TRESOR_ENV_DIR && process.env.KUBECONFIG && process.env.TRESOR_PG_URL) return { vars: {}, started: false };
  const dir = join(tmpdir(), `tresor-test-${process.pid}`);
  const p = await run('bash', ['hack/env.sh', 'up'], { ...process.env, TRESOR_ENV_DIR: dir }, 30 * 60_000);
  if (p.code !== 0) throw new Error(`hack/env.sh up failed (exit ${p.code}); see the output above`);
  const vars: Record<string, string> = {};
  for (const m of p.output.matchAll(/^export ([A-Z_][A-Z0-9_]*)='([^']*)'$/gm)) vars[m[1]!] = m[2]!;
  return { vars, started: true };
}

/** Stops a private environment when the run is interrupted (Ctrl-C, CI's timeout), not only when it ends. */
function stopOnSignal(env: NodeJS.ProcessEnv): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.log(`\n${sig}: stopping the environment this run started`);
      spawnSync('bash', ['hack/env.sh', 'down'], { cwd: root, env, stdio: 'inherit', timeout: 60_000 });
      process.exit(130);
    });
  }
}

async function checks(env: NodeJS.ProcessEnv): Promise<SuiteResult[]> {
  const bin = join(root, 'node_modules', '.bin');
  const list: Array<[string, string, string[]]> = [
    ['typecheck (tsc)', join(bin, 'tsc'), ['-p', 'tsconfig.json']],
    ['lint (eslint)', join(bin, 'eslint'), ['--max-warnings=0', '.']],
  ];
  const results: SuiteResult[] = [];
  for (const [name, cmd, args] of list) {
    console.log(`\n== ${name}`);
    const p = await run(cmd, args, env, SUITE_TIMEOUT_MS);
    results.push({ file: name, passed: p.code === 0 ? 1 : 0, failed: p.code === 0 ? 0 : 1, skipped: 0, complete: true });
  }
  return results;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  let files = [...findTests(join(root, 'operator')), ...findTests(join(root, 'test'))];
  if (opts.unitOnly) files = files.filter((f) => !needsEnvironment(f));
  if (opts.filters.length > 0) files = files.filter((f) => opts.filters.some((x) => f.includes(x)));
  const needsEnv = files.some(needsEnvironment);
  const { vars, started } = needsEnv ? await envUp() : { vars: {}, started: false };
  const env = { ...process.env, ...vars };
  if (started) stopOnSignal(env);
  const results: SuiteResult[] = opts.skipChecks ? [] : await checks(env);
  try {
    for (const file of files) {
      const rel = relative(root, file);
      console.log(`\n== ${rel}`);
      const p = await run(process.execPath, [file], env, SUITE_TIMEOUT_MS);
      const r = parseSummary(rel, p.output, p.code, p.timedOut);
      if (!r.complete) console.log(`!! ${rel} did not run to the end (exit ${p.code}${p.timedOut ? ', timed out' : ''})`);
      results.push(r);
    }
  } finally {
    if (started && process.env.TRESOR_KEEP_ENV !== '1') await run('bash', ['hack/env.sh', 'down'], env, 120_000);
  }
  const t = tally(results);
  for (const r of results.filter((x) => x.failed > 0 || !x.complete)) console.log(`FAILED: ${r.file}`);
  console.log(`\n${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
  return t.failed > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  // Set-up failed before any suite ran: still print the closing line CI reads, and fail.
  console.error(err);
  console.log('\n0 passed, 1 failed, 0 skipped');
  process.exitCode = 1;
}
