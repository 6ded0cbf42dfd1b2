// Two-phase GC against real backups in a real FsStore: condemn, then delete only a margin later what is still
// unreferenced and untouched; backups run beside it and rescue condemned blocks they reuse.
import { randomBytes } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { listCondemned } from '../vault/condemned.ts';
import { FsStore } from '../vault/fs-store.ts';
import { gcVault, type GcOptions } from '../vault/gc.ts';
import { acquireLock, LAPSE_MS } from '../vault/locks.ts';
import { MemoryStore } from '../vault/store.ts';
import { verifyVault } from '../vault/verify.ts';
import { blockKey, Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { ageFiles, sameBytes, tempDir, writeImage } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

const test = suite('vault: gc');
const MiB = 1 << 20;
const HOUR = 3_600_000;
let dir = '';
let root = '';
let cleanup: () => Promise<void> = async () => {};
let vault: Vault;
const gc = (o: GcOptions = {}): ReturnType<typeof gcVault> => gcVault(vault, { graceMs: HOUR, marginMs: HOUR, ...o });

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
  root = join(dir, 'vault');
  vault = await Vault.init(new FsStore(root), randomBytes(32));
});
test.after(async () => cleanup());

async function blockCount(): Promise<number> {
  let n = 0;
  for await (const _ of vault.store.list('blocks/')) n++;
  return n;
}

test('gc refuses to delete anything when no manifest is listed but blocks exist', async () => {
  const src = join(dir, 'e.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'random' }]);
  const r = await backupDisk({ vault, source: src, diskId: 'e' });
  await vault.store.delete(vault.manifestKey('e', r.backupId));
  try {
    await gc({ graceMs: 0 });
    assert.unreachable('gc deleted with an empty manifest listing');
  } catch (err) {
    assert.match((err as Error).message, /lists no manifests but has blocks/);
  }
  assert.is((await gc({ graceMs: 0, marginMs: 0, force: true, allowEmpty: true })).blocksCondemned, 2);
  assert.is((await gc({ graceMs: 0, marginMs: 0, force: true, allowEmpty: true })).blocksDeleted, 2);
});

test('a margin below 15 min needs force', async () => {
  try {
    await gc({ marginMs: 60_000 });
    assert.unreachable('gc accepted a 1 min margin');
  } catch (err) {
    assert.match((err as Error).message, /below 900000 ms.*--force/);
  }
});

test('two phases: condemned first, deleted only by a pass a margin later, referenced blocks kept', async () => {
  const a = join(dir, 'a.img');
  const b = join(dir, 'b.img');
  await writeImage(a, 4 * MiB, [{ offset: 0, length: 4 * MiB, fill: 'random' }]);
  await writeImage(b, 4 * MiB, [{ offset: 0, length: 4 * MiB, fill: 'random' }]);
  await backupDisk({ vault, source: a, diskId: 'a' });
  const rb = await backupDisk({ vault, source: b, diskId: 'b' });
  await vault.store.delete(vault.manifestKey('b', rb.backupId));
  const young = await gc();
  assert.is(young.keptForGrace, 4, 'blocks younger than the grace period are not even condemned');
  assert.is(young.blocksCondemned, 0);
  await ageFiles(root, 2 * HOUR);
  const first = await gc();
  assert.is(first.blocksCondemned, 4);
  assert.is(first.blocksDeleted, 0, 'the first phase deletes nothing');
  assert.ok((await listCondemned(vault.store)).length >= 1, 'condemned sets are written');
  const early = await gc();
  assert.is(early.blocksDeleted, 0, 'a pass within the margin deletes nothing');
  await ageFiles(root, HOUR + 1000);
  const second = await gc();
  assert.is(second.blocksDeleted, 4);
  assert.is(await blockCount(), 4);
  assert.is((await listCondemned(vault.store)).length, 0, 'processed condemned sets are removed');
  const out = join(dir, 'a.out');
  await restoreDisk({ vault, diskId: 'a', backupId: 'latest', target: out });
  assert.ok(await sameBytes(a, out));
});

test('a backup that reuses condemned blocks re-uploads them before publishing, and the next pass keeps them', async () => {
  const x = join(dir, 'x.img');
  await writeImage(x, 3 * MiB, [{ offset: 0, length: 3 * MiB, fill: 'random' }]);
  const rx = await backupDisk({ vault, source: x, diskId: 'x' });
  await vault.store.delete(vault.manifestKey('x', rx.backupId));
  await ageFiles(root, 2 * HOUR);
  assert.is((await gc()).blocksCondemned, 3);
  // The same bytes on another disk: dedup finds all three blocks stored, but they are condemned.
  const ry = await backupDisk({ vault, source: x, diskId: 'y' });
  assert.is(ry.blocksReused, 3);
  assert.is(ry.check.condemned, 3);
  assert.is(ry.check.reuploaded, 3);
  await vault.store.delete(vault.manifestKey('y', ry.backupId));
  // Even with y's manifest gone, the re-uploaded blocks are younger than the condemnation: not deleted.
  await ageFiles(root, HOUR + 1000);
  const after = await gc({ graceMs: 0 });
  assert.is(after.blocksDeleted, 0);
  assert.is(after.blocksRescued, 3);
  assert.is(await vault.store.has(vault.manifestKey('y', ry.backupId)), false);
});

test('a backup whose reused block GC already deleted re-uploads it from the source before publishing', async () => {
  const src = join(dir, 'q.img');
  await writeImage(src, 4 * MiB, [{ offset: 0, length: 4 * MiB, fill: 'random' }]);
  const first = await backupDisk({ vault, source: src, diskId: 'q' });
  const m = await vault.getManifest('q', first.backupId);
  // A block lost behind the parent's back (GC, verify --repair, an operator's rm): the incremental must not trust it.
  await vault.store.delete(blockKey(m.map.subarray(32, 64)));
  const inc = await backupDisk({ vault, source: src, diskId: 'q', parent: 'auto' });
  assert.is(inc.check.missing, 1);
  assert.is(inc.check.reuploaded, 1);
  const v = await verifyVault(vault, { readData: true });
  assert.ok(v.ok, 'the re-upload made the block whole again, for the old point too');
  const out = join(dir, 'q.out');
  await restoreDisk({ vault, diskId: 'q', backupId: inc.backupId, target: out });
  assert.ok(await sameBytes(src, out));
});

test('gc runs beside a backup: a backup never waits for a GC lock', async () => {
  const src = join(dir, 'w.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'text' }]);
  const gcLock = await acquireLock(vault.store, 'gc', 'test');
  try {
    const r = await backupDisk({ vault, source: src, diskId: 'w' });
    assert.is(r.type, 'full');
  } finally {
    await gcLock.release();
  }
});

test('a second GC pass defers while another one holds a live lock', async () => {
  const other = await acquireLock(vault.store, 'gc', 'other');
  try {
    const r = await gc();
    assert.ok(r.deferred);
    assert.match(r.reason, /another GC pass/);
  } finally {
    await other.release();
  }
});

test('gc checks its own lock before each delete batch: a lapsed lease deletes nothing', async () => {
  const src = join(dir, 'l.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'random' }]);
  const r = await backupDisk({ vault, source: src, diskId: 'l' });
  await vault.store.delete(vault.manifestKey('l', r.backupId));
  await ageFiles(root, 2 * HOUR);
  await gc();
  await ageFiles(root, 2 * HOUR);
  const before = await blockCount();
  let t = 0;
  // The first reading is the lock's start; every later one says the pass stalled past the lease.
  const monotonic = (): number => (t++ === 0 ? 0 : LAPSE_MS + 1);
  try {
    await gc({ lock: { monotonic } });
    assert.unreachable('gc deleted with a lapsed lease');
  } catch (err) {
    assert.match((err as Error).message, /was not refreshed/);
  }
  assert.is(await blockCount(), before);
  assert.is((await gc()).blocksDeleted, 2, 'a healthy pass then deletes them');
});

test('gc deletes in batches (1000 keys per request) and removes old temp files of interrupted writes', async () => {
  const mem = new MemoryStore();
  const batches: number[] = [];
  const orig = mem.deleteMany.bind(mem);
  mem.deleteMany = async (keys) => {
    if (keys.some((k) => k.startsWith('blocks/'))) batches.push(keys.length);
    return orig(keys);
  };
  const v = await Vault.init(mem, randomBytes(32));
  const old = new Date(Date.now() - 3 * HOUR);
  for (let i = 0; i < 2500; i++) mem.objects.set(blockKey(randomBytes(32)), { data: Buffer.from('x'), modified: old });
  await gcVault(v, { allowEmpty: true });
  for (const o of mem.objects.values()) o.modified = new Date(o.modified.getTime() - 2 * HOUR);
  const r = await gcVault(v, { allowEmpty: true });
  assert.is(r.blocksDeleted, 2500);
  assert.equal(batches, [1000, 1000, 500]);

  const stale = join(root, 'blocks', 'ab', `${'ab'.repeat(32)}.tmp-000000000000`);
  const fresh = join(root, 'blocks', 'ab', `${'ab'.repeat(32)}.tmp-111111111111`);
  await mkdir(join(root, 'blocks', 'ab'), { recursive: true });
  await writeFile(stale, 'partial');
  await writeFile(fresh, 'partial');
  await utimes(stale, new Date(), new Date(Date.now() - 2 * HOUR));
  const g = await gc();
  assert.is(g.tempFilesRemoved, 1, 'only the temp file older than the grace period goes');
});

test('sharded reference sets (bounded memory) give the same answer as one set', async () => {
  const one = await gc({ dryRun: true });
  const many = await gc({ dryRun: true, refMemoryBytes: 1 });
  assert.is(one.shards, 1);
  assert.is(many.shards, 256);
  assert.is(many.blocksReferenced, one.blocksReferenced);
  assert.is(many.blocksSeen, one.blocksSeen);
  await gc({ refMemoryBytes: 1 });
  await ageFiles(root, 2 * HOUR);
  await gc({ refMemoryBytes: 1 });
  assert.ok((await verifyVault(vault, { readData: true })).ok);
});

test('a lock left by a killed backup is stale on the store clock, and gc removes it', async () => {
  await vault.store.put('locks/backup-dead-000000', Buffer.from('{}'));
  await ageFiles(join(root, 'locks'), HOUR);
  const r = await gc();
  assert.not.ok(r.deferred);
  assert.not.ok(await vault.store.has('locks/backup-dead-000000'));
});

test.run();
