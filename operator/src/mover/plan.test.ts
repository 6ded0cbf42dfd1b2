// Change detection choices and the parsing of changed-block lists, sizes and extents.
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Manifest } from '../vault/manifest.ts';
import { changedBlockIndices, parseChangedBlocks } from './changed-blocks.ts';
import { overlapsData, parseLayout, sourceLayout } from './extents.ts';
import { Bandwidth, parseSize, Semaphore } from './limits.ts';
import { plan } from './plan.ts';
import { isZero } from './zero.ts';

const test = suite('mover: plan and parsing');
const K = 1024;

function parent(diskSize: number, blockSize: number): Manifest {
  const n = Math.ceil(diskSize / blockSize);
  return {
    map: randomBytes(32 * n),
    header: {
      format: 'tresor-disk-manifest', version: 1, vaultId: 'v', diskId: 'd', backupId: 'p', parentId: null,
      createdAt: '', diskSize, blockSize, type: 'full', reason: '',
      stats: { bytesRead: 0, bytesUploaded: 0, blocksUploaded: 0, blocksReused: 0, zeroBlocks: 0, durationMs: 0 },
    },
  };
}

test('changed-block lists: text and CSI JSON lines, comments, overlaps; bad lines name the line', () => {
  const r = parseChangedBlocks('# header\n0 10\n\n{"byteOffset": 4096, "sizeBytes": "8192"}\n5 0\n');
  assert.equal(r, [{ start: 0, end: 10 }, { start: 4096, end: 12288 }]);
  assert.throws(() => parseChangedBlocks('0 10\n10 -1\n', 'list.txt'), /list.txt line 2/);
  assert.equal(changedBlockIndices([{ start: 0, end: 10 }, { start: 4095, end: 4097 }, { start: 9000, end: 99999 }], 4096, 4), [0, 1, 2, 3]);
});

test('order: changed-block list, then hash-compare, then full — with the reason recorded', () => {
  const data = [{ start: 0, end: 10 * K }];
  const base = { diskSize: 10 * K, blockSize: 4 * K, data, parentWhy: 'no earlier backup' };
  const cbt = plan({ ...base, parent: parent(10 * K, 4 * K), changed: [{ start: 0, end: 1 }] });
  assert.is(cbt.type, 'incremental-changed-blocks');
  // Block 0 from the list; block 2 because the parent's last block was partial.
  assert.equal([...cbt.reads], [0, 2]);
  assert.is(plan({ ...base, parent: parent(10 * K, 4 * K), changed: undefined }).type, 'incremental-hash');
  const full = plan({ ...base, parent: undefined, changed: [{ start: 0, end: 1 }] });
  assert.is(full.type, 'full');
  assert.match(full.reason, /changed-block list ignored: no earlier backup/);
  const other = plan({ ...base, parent: parent(10 * K, 8 * K), changed: undefined });
  assert.is(other.type, 'full');
  assert.match(other.reason, /8192-byte blocks/);
});

test('a disk that grew: blocks past the parent are read even if the list does not name them', () => {
  const p = plan({ diskSize: 16 * K, blockSize: 4 * K, data: [], parent: parent(8 * K, 4 * K), parentWhy: '', changed: [] });
  assert.equal([...p.reads], [2, 3]);
});

test('holes: blocks that overlap no data extent are not read', () => {
  const p = plan({ diskSize: 32 * K, blockSize: 4 * K, data: [{ start: 5 * K, end: 6 * K }, { start: 28 * K, end: 29 * K }], parent: undefined, parentWhy: 'x', changed: undefined });
  assert.equal([...p.reads], [1, 7]);
  assert.is(p.readCount, 2);
  const cursor = { i: 0 };
  assert.not.ok(overlapsData([{ start: 10, end: 20 }], 0, 10, cursor));
  assert.ok(overlapsData([{ start: 10, end: 20 }], 19, 30, cursor));
});

test('extent helper output, sizes and zero detection', () => {
  assert.equal(parseLayout('100\n0 10\n50 100\n'), { size: 100, data: [{ start: 0, end: 10 }, { start: 50, end: 100 }], holesKnown: true });
  assert.is(parseLayout('7\n0 7\nnohole\n').holesKnown, false);
  assert.is(parseSize('64M'), 64 * K * K);
  assert.is(parseSize('1.5K'), 1536);
  assert.throws(() => parseSize('fast'), /bad size/);
  assert.is(parseSize('64Mi'), 64 * K * K, 'Kubernetes-style binary suffixes');
  assert.is(parseSize('2 GiB'), 2 * K * K * K);
  assert.is(parseSize('512'), 512);
  assert.is(parseSize('512B'), 512);
  assert.throws(() => parseSize('2Mx'), /bad size/);
  assert.throws(() => parseSize('-1M'), /bad size/);
  const z = Buffer.alloc(200 * K);
  assert.ok(isZero(z));
  z[150 * K] = 1;
  assert.not.ok(isZero(z));
  assert.ok(isZero(Buffer.alloc(0)));
});

test('holes are found with SEEK_DATA; without python3 a file is read whole instead of failing', async () => {
  const { mkdtemp, open, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'tresor-extents-'));
  const file = join(dir, 'sparse.img');
  const fh = await open(file, 'w');
  await fh.truncate(64 * K * K);
  await fh.write(Buffer.alloc(K, 1), 0, K, 32 * K * K);
  await fh.close();
  const found = await sourceLayout(file);
  assert.is(found.size, 64 * K * K);
  assert.ok(found.holesKnown);
  assert.ok(found.data.length === 1 && (found.data[0]?.start ?? -1) <= 32 * K * K && (found.data[0]?.end ?? 0) < 64 * K * K, JSON.stringify(found));
  const path = process.env.PATH;
  process.env.PATH = dir;
  try {
    assert.equal(await sourceLayout(file), { size: 64 * K * K, data: [{ start: 0, end: 64 * K * K }], holesKnown: false });
  } finally {
    process.env.PATH = path;
    await rm(dir, { recursive: true, force: true });
  }
});

test('the bandwidth limit holds a transfer to its rate after a one-second burst', async () => {
  const bw = new Bandwidth(4 * K * K);
  const t0 = Date.now();
  for (let i = 0; i < 12; i++) await bw.take(K * K);
  const ms = Date.now() - t0;
  // 12 MiB at 4 MiB/s with 4 MiB of burst: about 2 s.
  assert.ok(ms >= 1800 && ms < 4000, `took ${ms} ms`);
});

test('a semaphore never lets more than n through', async () => {
  const sem = new Semaphore(3);
  let now = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      await sem.acquire();
      peak = Math.max(peak, ++now);
      await new Promise((r) => setTimeout(r, 2));
      now--;
      sem.release();
    }),
  );
  assert.is(peak, 3);
});

test.run();
