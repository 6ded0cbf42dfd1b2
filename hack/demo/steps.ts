// The demo's small tools: print a step, run a command (showing it as a user would type it), wait for a
// condition, find the host file behind a PVC (the local node agent keeps volumes as files), let the
// "guest" write into a disk, hash a disk, and run the operator as a child process.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ReadyProcess, startReady } from '../process.ts';
import type { DemoSettings } from './manifests.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let step = 0;

/** Prints the next step's heading. */
export function say(text: string): void {
  step++;
  process.stdout.write(`\n==> ${step}. ${text}\n`);
}

/** Runs a command; `show` prints it and its output; `check` (default) throws on a non-zero exit. */
export function sh(cmd: readonly string[], o: { input?: string; show?: boolean; check?: boolean } = {}): { code: number; stdout: string } {
  if (o.show) process.stdout.write(`$ ${cmd.map((c) => (c.startsWith('/') ? c.replace(ROOT, '') : c)).join(' ')}\n`);
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', input: o.input, env: process.env, maxBuffer: 64 << 20 });
  const stdout = (r.stdout ?? '').trim();
  if (o.show && stdout) process.stdout.write(`${stdout.replace(/^/gm, '    ')}\n`);
  if ((o.check ?? true) && r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr || r.error?.message || ''}`);
  return { code: r.status ?? -1, stdout };
}

/** Polls `check` every second until it holds; throws after `timeoutMs` naming what it waited for. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The host file with a PVC's bytes: a Block volume's backing file, or disk.img in a Filesystem volume. */
export async function fileOfPvc(namespace: string, pvc: string): Promise<string> {
  let out = '';
  await waitFor(`PVC ${pvc} to be bound`, () => {
    out = sh(['kubectl', '-n', namespace, 'get', 'pvc', pvc, '-o', 'jsonpath={.spec.volumeMode} {.spec.volumeName}'], { check: false }).stdout;
    return /^\S+ \S+$/.test(out);
  });
  const [mode, pv] = out.split(' ');
  const handle = sh(['kubectl', 'get', 'pv', pv!, '-o', 'jsonpath={.spec.csi.volumeHandle}']).stdout;
  return mode === 'Block' ? handle : join(handle, 'disk.img');
}

/** Writes random bytes into a disk, as the guest would (the VM's own writes). */
export function scribble(file: string, at: { offset: number; bytes: number }): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, randomBytes(at.bytes), 0, at.bytes, at.offset);
  } finally {
    closeSync(fd);
  }
}

/** sha256 of a disk's bytes (hex). */
export function diskHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The operator as a child process. */
export type OperatorProcess = ReadyProcess;

/** Starts operator/src/main.ts for the demo namespace; resolves once it printed that it is ready. */
export async function startOperator(s: DemoSettings, pgUrl: string): Promise<OperatorProcess> {
  const db = new URL(pgUrl);
  db.pathname = `/${s.namespace.replace(/-/g, '_')}`; // its own DBOS database: workflows of other runs are not its own
  const op = await startReady({
    what: 'operator', args: [join(ROOT, 'operator/src/main.ts')], readyText: 'tresor operator ready', timeoutMs: 180_000,
    env: {
      ...process.env, TRESOR_PG_URL: db.toString(), TRESOR_EXECUTOR_ID: s.namespace, TRESOR_WATCH_NAMESPACE: s.namespace, TRESOR_OPS_PORT: '0',
      TRESOR_SNAPSHOT_SERVICE_ACCOUNT: 'tresor-snapshot', TRESOR_TRANSFER_SERVICE_ACCOUNT: 'tresor-transfer', TRESOR_POD_NODE_SELECTOR: `kubernetes.io/hostname=${s.node}`,
    },
  });
  process.stdout.write(`    ${op.output().split('\n').find((l) => l.includes('tresor operator ready'))}\n`);
  return op;
}
