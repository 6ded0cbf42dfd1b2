// For tests: start the agent as a child process with its own state dir and node name, wait until it
// says it is ready, and stop it (SIGTERM, then SIGKILL) — also when the test process exits early.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startReady } from '../process.ts';

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

/** Starts `hack/node-agent/main.ts` for a test; resolves once it printed `node-agent ready`. */
export async function startAgentProcess(opts: { nodeName: string; args?: readonly string[] }): Promise<AgentProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), `node-agent-${opts.nodeName}-`));
  const args = [MAIN, '--state-dir', stateDir, '--node-name', opts.nodeName, '--schedule', 'selected', '--delete-node-on-exit', ...(opts.args ?? [])];
  // Longer than the agent's own waits (CRDs Established, APIService Available: 120 s each), so on a
  // loaded machine the agent's own error, naming what it waited for, is what a test reports.
  const p = await startReady({ what: 'node agent', args, readyText: 'node-agent ready', timeoutMs: 300_000, echoStderr: !!process.env.NODE_AGENT_LOG })
    .catch((err: unknown) => {
      rmSync(stateDir, { recursive: true, force: true });
      throw err;
    });
  return {
    nodeName: opts.nodeName,
    stateDir,
    output: p.output,
    stop: async () => {
      await p.stop(15_000);
      rmSync(stateDir, { recursive: true, force: true });
    },
    kill: async () => {
      await p.kill();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
