// The agent's log: one line per event on stderr, prefixed with the time, so a test's output shows
// what the stand-in did next to what the code under test did.

/** Where the agent writes what it does. */
export interface Log {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

/** A stderr logger; debug lines only when `verbose`. */
export function makeLog(prefix: string, verbose: boolean): Log {
  const line = (level: string, msg: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${prefix} ${level} ${msg}\n`);
  };
  return {
    info: (m) => line('info', m),
    warn: (m) => line('warn', m),
    debug: (m) => {
      if (verbose) line('debug', m);
    },
  };
}

/** The message of an unknown thrown value. */
export function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
