// The operator as a real child process for end-to-end suites: start it and wait for its ready line,
// SIGKILL it (a crash), SIGTERM it (a graceful stop), and kill whatever is left when a suite ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../operator/src/main.ts', import.meta.url));

/** A running operator process. */
export interface Operator {
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with how the process ended. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Starts `node operator/src/main.ts` with `env` added and resolves once it printed that it is ready. */
export async function startOperator(env: Record<string, string>): Promise<Operator> {
  const child = spawn(process.execPath, [MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  let out = '';
  child.stderr!.on('data', (b: Buffer) => {
    out += b.toString();
    if (process.env.E2E_VERBOSE) process.stderr.write(b);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`operator not ready after 60 s:\n${out}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('tresor operator ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`operator exited ${code} before it was ready:\n${out}`));
    });
  });
  return { child, output: () => out, exit };
}

const ended = (op: Operator): boolean => op.child.exitCode !== null || op.child.signalCode !== null;

/** SIGKILLs the operator (a crash) and waits until it is gone. */
export async function kill9(op: Operator): Promise<void> {
  if (ended(op)) return;
  op.child.kill('SIGKILL');
  await op.exit;
}

/** Stops the operator gracefully (SIGTERM), SIGKILLing it if it has not exited after 20 s. */
export async function stop(op: Operator | undefined): Promise<void> {
  if (!op || ended(op)) return;
  op.child.kill('SIGTERM');
  const t = setTimeout(() => op.child.kill('SIGKILL'), 20_000);
  await op.exit;
  clearTimeout(t);
}

/** SIGKILLs every operator this process started that still runs (a suite's last resort). */
export function killAll(): void {
  for (const c of running) c.kill('SIGKILL');
}
