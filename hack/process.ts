// A child process that says when it is ready: the node agent, the operator in end-to-end suites and in
// the demo all start as `node <script>`, print a ready line on stdout, and are stopped with SIGTERM (a
// graceful stop) or SIGKILL (a crash). One implementation, so timeouts and clean-up agree everywhere.
import { spawn, type ChildProcess } from 'node:child_process';

/** How a process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started process that printed its ready line. */
export interface ReadyProcess {
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  readonly exit: Promise<ExitStatus>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now; resolves once it is gone. */
  kill(): Promise<void>;
}

/** What to start and what to wait for. */
export interface ReadySpec {
  /** Named in errors ("node agent", "operator"). */
  readonly what: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The text on stdout that means ready. */
  readonly readyText: string;
  readonly timeoutMs: number;
  /** Copy its stderr to ours as it comes (verbose test runs). */
  readonly echoStderr?: boolean;
}

/** Starts `node ...args` and resolves once `readyText` appeared on its stdout; rejects with its output otherwise. */
export async function startReady(spec: ReadySpec): Promise<ReadyProcess> {
  const child = spawn(process.execPath, spec.args, { env: spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit); // never leave it behind when the parent ends early
  const exit = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      resolve({ code, signal });
    });
  });
  let out = '';
  child.stderr!.on('data', (b: Buffer) => {
    out += b.toString();
    if (spec.echoStderr) process.stderr.write(b);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.what} not ready after ${spec.timeoutMs / 1000} s:\n${out}`)), spec.timeoutMs);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes(spec.readyText)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${spec.what} exited ${code ?? signal} before it was ready:\n${out}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const ended = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child, exit,
    output: () => out,
    stop: async (graceMs = 20_000) => {
      if (ended()) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(t);
    },
    kill: async () => {
      if (ended()) return;
      child.kill('SIGKILL');
      await exit;
    },
  };
}
