// The operator as a real child process for end-to-end suites: start it and wait for its ready line,
// SIGKILL it (a crash), SIGTERM it (a graceful stop), and kill whatever is left when a suite ends.
import { fileURLToPath } from 'node:url';
import { type ReadyProcess, startReady } from '../../hack/process.ts';

const MAIN = fileURLToPath(new URL('../../operator/src/main.ts', import.meta.url));

/** A running operator process. */
export type Operator = ReadyProcess;

const running = new Set<Operator>();

/** Starts `node operator/src/main.ts` with `env` added and resolves once it printed that it is ready. */
export async function startOperator(env: Record<string, string>): Promise<Operator> {
  // Generous: DBOS's launch and the first lists take seconds, and a loaded CI machine stretches them.
  const op = await startReady({
    what: 'operator', args: [MAIN], env: { ...process.env, ...env }, readyText: 'tresor operator ready', timeoutMs: 180_000, echoStderr: !!process.env.E2E_VERBOSE,
  });
  running.add(op);
  void op.exit.then(() => running.delete(op));
  return op;
}

/** SIGKILLs the operator (a crash) and waits until it is gone. */
export async function kill9(op: Operator): Promise<void> {
  await op.kill();
}

/** Stops the operator gracefully (SIGTERM), SIGKILLing it if it has not exited after 20 s. */
export async function stop(op: Operator | undefined): Promise<void> {
  await op?.stop(20_000);
}

/** SIGKILLs every operator this process started that still runs (a suite's last resort). */
export function killAll(): void {
  for (const op of running) op.child.kill('SIGKILL');
}
