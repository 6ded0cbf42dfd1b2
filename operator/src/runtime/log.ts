// A minimal structured logger interface, so runtime pieces log without choosing a logging library.

/** Fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** What the runtime needs from a logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

function line(level: string, component: string, msg: string, fields: LogFields | undefined): string {
  const out: Record<string, unknown> = { ts: new Date().toISOString(), level, component, msg };
  for (const [k, v] of Object.entries(fields ?? {})) out[k] = v instanceof Error ? v.message : v;
  return JSON.stringify(out);
}

/** A JSON-lines logger writing to stderr; debug lines only when verbose. */
export function jsonLogger(component: string, verbose = false): Logger {
  const write = (level: string) => (msg: string, fields?: LogFields): void => {
    process.stderr.write(`${line(level, component, msg, fields)}\n`);
  };
  return {
    debug: verbose ? write('debug') : () => {},
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
}

/** A logger that drops everything (the default in unit tests). */
export const silentLogger: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });
