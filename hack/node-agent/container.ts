// One container as a local process: bwrap started in its own process group (so a pod's deletion can
// signal everything it started), output appended to a log file, and on exit the termination message
// read as kubelet reads it (the file at terminationMessagePath, at most 4096 bytes; with
// FallbackToLogsOnError and a failure, the log's tail: at most 80 lines and 2048 bytes).
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter, join } from 'node:path';
import { bwrapArgs, type SandboxSpec } from './sandbox.ts';

/** How a container ended. */
export interface ContainerExit {
  readonly exitCode: number;
  readonly signal: number | undefined;
  readonly finishedAt: Date;
  readonly message: string;
}

/** A started container. */
export interface ContainerRun {
  readonly startedAt: Date;
  readonly exited: Promise<ContainerExit>;
  /** Signals the container's whole process group. */
  kill(signal: NodeJS.Signals): void;
}

/** What starting a container needs besides its sandbox. */
export interface StartOptions {
  readonly sandbox: SandboxSpec;
  readonly env: Record<string, string>;
  readonly logFile: string;
  readonly terminationFile: string;
  readonly fallbackToLogs: boolean;
}

const MESSAGE_MAX = 4096;
const LOG_TAIL_BYTES = 2048;
const LOG_TAIL_LINES = 80;

function readBounded(file: string, max: number, fromEnd: boolean): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = statSync(file).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, fromEnd ? size - len : 0);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The termination message kubelet would report for a container that ended with `exitCode`. */
export function terminationMessage(opts: { terminationFile: string; logFile: string; fallbackToLogs: boolean; exitCode: number }): string {
  const msg = readBounded(opts.terminationFile, MESSAGE_MAX, false);
  if (msg || !opts.fallbackToLogs || opts.exitCode === 0) return msg;
  return readBounded(opts.logFile, LOG_TAIL_BYTES, true).split('\n').slice(-LOG_TAIL_LINES - 1).join('\n');
}

let bwrapPath: string | undefined;

/**
 * bwrap as the agent's PATH finds it: spawn would search the container's PATH (an image's PATH need not
 * hold the host's /usr/bin); the container's command is then looked up by bwrap in the container's PATH.
 */
export function bwrapBinary(): string {
  if (bwrapPath) return bwrapPath;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, 'bwrap'), fsConstants.X_OK);
      return (bwrapPath = join(dir, 'bwrap'));
    } catch {
      /* not here */
    }
  }
  return 'bwrap';
}

/** Starts the container's process; `exited` resolves when it ends (never rejects). */
export function startContainer(opts: StartOptions): ContainerRun {
  const log = openSync(opts.logFile, 'a');
  const startedAt = new Date();
  const child = spawn(bwrapBinary(), bwrapArgs(opts.sandbox), { detached: true, env: opts.env, stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<ContainerExit>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      const signum = signal ? constants.signals[signal] : undefined;
      const exitCode = code ?? 128 + (signum ?? 9);
      const message = terminationMessage({ ...opts, exitCode });
      resolve({ exitCode, signal: signum, finishedAt: new Date(), message });
    };
    child.on('error', (err) => {
      resolve({ exitCode: 128, signal: undefined, finishedAt: new Date(), message: `cannot start bwrap: ${err.message}` });
    });
    child.on('exit', finish);
  });
  return {
    startedAt,
    exited,
    kill: (signal) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        /* already gone */
      }
    },
  };
}
