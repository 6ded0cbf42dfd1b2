// Data-path benchmark: Tresor against restic and one plain sequential read, on the same images in one run.
// Run: npx node test/bench/datapath.ts [--sizes 1,8] [--reps 3,1] [--dir /var/tmp/tresor-bench]
// Each run is a child process under /usr/bin/time (wall time, peak RSS). Page cache is hot for every run.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changeBlocks, writeImage, type Segment } from '../../operator/src/mover/fixtures.ts';

const GiB = 1 << 30;
const MiB = 1 << 20;
const BIN = fileURLToPath(new URL('../../operator/bin/tresor.js', import.meta.url));

interface Args {
  readonly sizes: number[];
  readonly reps: number[];
  readonly dir: string;
}

function parse(argv: string[]): Args {
  const get = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? (argv[i + 1] ?? def) : def;
  };
  return {
    sizes: get('sizes', '1,8').split(',').map(Number),
    reps: get('reps', '3,1').split(',').map(Number),
    dir: get('dir', '/var/tmp/tresor-bench'),
  };
}

interface Sample {
  readonly seconds: number;
  readonly rssMiB: number;
  readonly stdout: string;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Sample {
  // Wall time from our own clock (time's %e has 10 ms steps); peak RSS from time's %M (the child's rusage).
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %M', cmd, ...args], { encoding: 'utf8', env, maxBuffer: 64 * MiB });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /TIME (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds, rssMiB: Number(m[1]) / 1024, stdout: r.stdout };
}

/** Half-sparse random image: 64 MiB of random data, then a 64 MiB hole, repeated. */
function halfSparse(size: number): Segment[] {
  const segs: Segment[] = [];
  for (let at = 0; at < size; at += 128 * MiB) segs.push({ offset: at, length: Math.min(64 * MiB, size - at), fill: 'random' });
  return segs;
}


function tresor(args: string[]): Sample {
  return timed(process.execPath, [BIN, ...args]);
}

/** One full sequence on a fresh image, vault and restic repository; returns one sample per row. */
async function sequence(dir: string, size: number): Promise<Map<string, { s: Sample; read?: number; uploaded?: number }>> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const img = join(dir, 'disk.img');
  await writeImage(img, size, halfSparse(size));
  const key = join(dir, 'key');
  writeFileSync(key, randomBytes(32).toString('hex'));
  const pw = join(dir, 'restic.pw');
  writeFileSync(pw, 'bench');
  const vault = `file://${join(dir, 'vault')}`;
  const repo = join(dir, 'restic');
  const renv = { ...process.env, RESTIC_PASSWORD_FILE: pw, RESTIC_REPOSITORY: repo, RESTIC_CACHE_DIR: join(dir, 'restic-cache') };
  const out = new Map<string, { s: Sample; read?: number; uploaded?: number }>();
  const common = ['--vault', vault, '--key-file', key];
  const backup = (name: string, extra: string[]): void => {
    const s = tresor(['disk', 'backup', ...common, '--source', img, '--disk-id', 'd', '--json', ...extra]);
    const r = JSON.parse(s.stdout) as { bytesRead: number; bytesUploaded: number };
    out.set(name, { s, read: r.bytesRead, uploaded: r.bytesUploaded });
  };
  tresor(['vault', 'init', ...common]);
  timed('restic', ['init', '--repository-version', '2'], renv);
  // Flush the freshly written image and read it once untimed, so every run below sees the same hot cache.
  timed('sync', []);
  timed('dd', [`if=${img}`, 'of=/dev/null', 'bs=1M']);
  out.set('sequential read (dd bs=1M)', { s: timed('dd', [`if=${img}`, 'of=/dev/null', 'bs=1M']) });
  backup('tresor full', []);
  out.set('restic full', { s: timed('restic', ['backup', '--host', 'bench', img], renv) });
  // 1% of the blocks change (one 4 KiB write in each of them): hash-compare finds them, restic re-reads the file.
  await changeBlocks(img, size, MiB, size / MiB / 100);
  backup('tresor 1% incremental, hash-compare', ['--parent', 'auto']);
  out.set('restic 1% incremental', { s: timed('restic', ['backup', '--host', 'bench', img], renv) });
  // Another 1%, this time with the changed-block list a CSI GetMetadataDelta would give.
  const ranges = await changeBlocks(img, size, MiB, size / MiB / 100);
  const list = join(dir, 'changed.txt');
  writeFileSync(list, ranges.map((r) => `${r.start} ${r.end - r.start}`).join('\n'));
  backup('tresor 1% incremental, changed-block list', ['--parent', 'auto', '--changed-blocks', list]);
  const target = join(dir, 'restored.img');
  timed('sync', []);
  out.set('tresor restore', { s: tresor(['disk', 'restore', ...common, '--disk-id', 'd', '--target', target]) });
  rmSync(target, { force: true });
  timed('sync', []);
  const rr = timed('restic', ['restore', 'latest', '--target', join(dir, 'restic-out')], renv);
  out.set('restic restore', { s: rr });
  // Tresor fsyncs the restored disk before it reports success; restic does not. The same end state:
  const fsync = timed('sync', [join(dir, 'restic-out', img)]);
  out.set(RESTIC_RESTORE_SYNCED, { s: { seconds: rr.seconds + fsync.seconds, rssMiB: rr.rssMiB, stdout: '' } });
  rmSync(join(dir, 'restic-out'), { recursive: true, force: true });
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const RESTIC_RESTORE_SYNCED = 'restic restore + fsync of the restored file';

const PEERS: Record<string, string> = {
  'tresor full': 'restic full',
  'tresor 1% incremental, hash-compare': 'restic 1% incremental',
  'tresor 1% incremental, changed-block list': 'restic 1% incremental',
  'tresor restore': 'restic restore',
};

function fmtBytes(n: number | undefined): string {
  return n === undefined ? '' : `${(n / MiB).toFixed(1)} MiB`;
}

function table(size: number, reps: number, rows: Map<string, { s: Sample; read?: number; uploaded?: number }[]>): string {
  const med = (name: string): number => median((rows.get(name) ?? []).map((x) => x.s.seconds));
  const seq = med('sequential read (dd bs=1M)');
  const lines = [
    `| image ${size / GiB} GiB half-sparse (${reps} run${reps > 1 ? 's, median' : ''}) | time s | GB/s of image | vs sequential read | speed-up vs restic | read | uploaded | peak RSS MiB |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, xs] of rows) {
    const t = med(name);
    const peer = PEERS[name];
    // On the synced restic row, the speed-up column shows tresor restore against it (same end state).
    const speedup = name === RESTIC_RESTORE_SYNCED ? `tresor ${(t / med('tresor restore')).toFixed(2)}x` : peer ? `${(med(peer) / t).toFixed(2)}x` : '';
    const first = xs[Math.floor(xs.length / 2)];
    const rss = Math.max(...xs.map((x) => x.s.rssMiB));
    lines.push(
      `| ${name} | ${t.toFixed(2)} | ${(size / t / 1e9).toFixed(2)} | ${(t / seq).toFixed(2)}x | ${speedup} | ${fmtBytes(first?.read)} | ${fmtBytes(first?.uploaded)} | ${rss.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const tables: string[] = [];
  for (const [i, gib] of a.sizes.entries()) {
    const reps = a.reps[i] ?? 1;
    const rows = new Map<string, { s: Sample; read?: number; uploaded?: number }[]>();
    for (let r = 0; r < reps; r++) {
      process.stderr.write(`bench: ${gib} GiB, run ${r + 1}/${reps}\n`);
      for (const [name, x] of await sequence(join(a.dir, `${gib}g`), gib * GiB)) rows.set(name, [...(rows.get(name) ?? []), x]);
    }
    rmSync(join(a.dir, `${gib}g`), { recursive: true, force: true });
    tables.push(table(gib * GiB, reps, rows));
  }
  process.stdout.write(`${tables.join('\n\n')}\n`);
}

await main();
