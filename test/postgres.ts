// A private, throw-away Postgres cluster for one suite, so a test may stop it, start it again or drop its
// databases without touching the shared environment's Postgres that other suites use at the same time.
// Debian's package (the newest /usr/lib/postgresql/*/bin), started as hack/env.sh starts the shared one:
// superuser `tresor`, trust auth on 127.0.0.1, a free port, the unix socket in the cluster's temp dir.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** A running private Postgres cluster. */
export interface PrivatePostgres {
  /** The port it listens on (127.0.0.1), the same across stop/start. */
  readonly port: number;
  /** A connection URL for database `db` (which need not exist: DBOS creates its system database). */
  url(db: string): string;
  /** Stops the server (`pg_ctl -m fast`: clients are disconnected, no new connections are accepted). */
  stop(): void;
  /** Starts the stopped server again on the same port. */
  start(): void;
  /** Runs one SQL statement as the superuser against database `db` (default `postgres`); returns stdout. */
  sql(statement: string, db?: string): string;
  /** Stops the server (immediately) and removes its files; idempotent. */
  remove(): void;
}

/** The newest installed Postgres's bin directory. */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : [];
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  if (!newest) throw new Error(`no Postgres under ${root}: run 'bash hack/setup.sh' (installs Debian's postgresql)`);
  return join(root, newest, 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const isRoot = (): boolean => userInfo().uid === 0;

/** Runs a Postgres binary, as the `postgres` user when we are root (Postgres refuses to run as root). */
function runPg(bin: string, tool: string, args: readonly string[]): string {
  const cmd = isRoot() ? 'runuser' : join(bin, tool);
  const full = isRoot() ? ['-u', 'postgres', '--', join(bin, tool), ...args] : [...args];
  const r = spawnSync(cmd, full, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  if (r.error) throw new Error(`${tool} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Creates and starts a private Postgres cluster in a new temp dir. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'tresor-pg-'));
  if (isRoot()) {
    const pg = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const uid = Number(pg.stdout.trim());
    if (pg.status !== 0 || !Number.isInteger(uid)) throw new Error('running as root but there is no `postgres` user (Debian\'s postgresql package creates it)');
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const port = await freePort();
  runPg(bin, 'initdb', ['-D', data, '-U', 'tresor', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  // fsync off: throw-away data; what the tests exercise is the server going away, not the host crashing.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  let removed = false;
  const running = (): boolean => existsSync(join(data, 'postmaster.pid'));
  const pg: PrivatePostgres = {
    port,
    url: (db) => `postgresql://tresor:tresor@127.0.0.1:${port}/${db}`,
    start: () => void runPg(bin, 'pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', opts, 'start']),
    stop: () => void runPg(bin, 'pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']),
    sql: (statement, db = 'postgres') => runPg(bin, 'psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'tresor', '-d', db, '-v', 'ON_ERROR_STOP=1', '-qtAc', statement]),
    remove: () => {
      if (removed) return;
      removed = true;
      if (running()) {
        try {
          runPg(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']);
        } catch {
          // Already stopped: nothing to do before removing the files.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  pg.start();
  return pg;
}
