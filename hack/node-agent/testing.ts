// For tests: start the agent as a child process with its own state dir and node name, wait until it
// says it is ready, and stop it (SIGTERM, then SIGKILL) — also when the test process exits early.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A running agent started by a test. */
export interface AgentProcess {
  readonly nodeName: string;
  readonly stateDir: string;
  /** Everything the agent printed so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after 15 s; removes the state dir. */
  stop(): Promise<void>;
  /** SIGKILL now (a crashed agent); removes the state dir. */
  kill(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Starts `hack/node-agent/main.ts` for a test; resolves once it printed `node-agent ready`. */
export async function startAgentProcess(opts: { nodeName: string; args?: readonly string[] }): Promise<AgentProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), `node-agent-${opts.nodeName}-`));
  const args = [MAIN, '--state-dir', stateDir, '--node-name', opts.nodeName, '--schedule', 'selected', '--delete-node-on-exit', ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', kill);
  let out = '';
  child.stderr.on('data', (b: Buffer) => {
    out += b.toString();
    if (process.env.NODE_AGENT_LOG) process.stderr.write(b);
  });
  await new Promise<void>((resolve, reject) => {
    // Longer than the agent's own waits (CRDs Established, APIService Available: 120 s each), so on a
    // loaded machine the agent's own error, naming what it waited for, is what a test reports.
    const t = setTimeout(() => reject(new Error(`node agent not ready after 300 s:\n${out}`)), 300_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('node-agent ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`node agent exited ${code} before it was ready:\n${out}`));
    });
  });
  return {
    nodeName: opts.nodeName,
    stateDir,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 15_000))) {
        child.kill('SIGKILL');
        await waitExit(child, 5_000);
      }
      process.off('exit', kill);
      rmSync(stateDir, { recursive: true, force: true });
    },
    kill: async () => {
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
      process.off('exit', kill);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
