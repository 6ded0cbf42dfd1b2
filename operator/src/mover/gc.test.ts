// GC against real backups: removes only unreferenced blocks, and run during a backup loses nothing.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FsStore } from '../vault/fs-store.ts';
import { gcVault } from '../vault/gc.ts';
import { acquireLock } from '../vault/locks.ts';
import { verifyVault } from '../vault/verify.ts';
import { Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { sameBytes, tempDir, writeImage } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

const test = suite('vault: gc');
const MiB = 1 << 20;
let dir = '';
let cleanup: () => Promise<void> = async () => {};
let vault: Vault;

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
  vault = await Vault.init(new FsStore(join(dir, 'vault')), randomBytes(32));
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
    await gcVault(vault, { graceMs: 0 });
    assert.unreachable('gc deleted with an empty manifest listing');
  } catch (err) {
    assert.match((err as Error).message, /lists no manifests but 2 blocks/);
  }
  assert.is((await gcVault(vault, { graceMs: 0, allowEmpty: true })).blocksDeleted, 2);
});

test('gc deletes unreferenced blocks only after the grace period and keeps referenced ones', async () => {
  const a = join(dir, 'a.img');
  const b = join(dir, 'b.img');
  await writeImage(a, 4 * MiB, [{ offset: 0, length: 4 * MiB, fill: 'random' }]);
  await writeImage(b, 4 * MiB, [{ offset: 0, length: 4 * MiB, fill: 'random' }]);
  await backupDisk({ vault, source: a, diskId: 'a' });
  const rb = await backupDisk({ vault, source: b, diskId: 'b' });
  await vault.store.delete(vault.manifestKey('b', rb.backupId));
  const kept = await gcVault(vault, { graceMs: 3_600_000 });
  assert.is(kept.blocksDeleted, 0);
  assert.is(kept.keptForGrace, 4);
  const gone = await gcVault(vault, { graceMs: 0 });
  assert.is(gone.blocksDeleted, 4);
  assert.is(await blockCount(), 4);
  const out = join(dir, 'a.out');
  await restoreDisk({ vault, diskId: 'a', backupId: 'latest', target: out });
  assert.ok(await sameBytes(a, out));
});

test('gc during a backup loses nothing, even blocks the backup found already stored and did not upload', async () => {
  // Orphan blocks: stored by a backup whose manifest is gone. A new backup of the same content dedups
  // against them (does not upload them); a GC running meanwhile must not delete them.
  const orphan = join(dir, 'orphan.img');
  await writeImage(orphan, 24 * MiB, [
    { offset: 0, length: 8 * MiB, fill: 'random' },
    { offset: 8 * MiB, length: 16 * MiB, fill: 'random' },
  ]);
  const ro = await backupDisk({ vault, source: orphan, diskId: 'orphan' });
  await vault.store.delete(vault.manifestKey('orphan', ro.backupId));
  // The same disk with its tail rewritten: 8 blocks dedup against orphans, 16 are new and rate-limited.
  const { open } = await import('node:fs/promises');
  const fh = await open(orphan, 'r+');
  await fh.write(randomBytes(16 * MiB), 0, 16 * MiB, 8 * MiB);
  await fh.close();
  const running = backupDisk({ vault, source: orphan, diskId: 'live', bandwidthBytesPerSecond: 6 * MiB, uploadConcurrency: 2 });
  await new Promise((r) => setTimeout(r, 800));
  const during = await gcVault(vault, { graceMs: 0 });
  assert.ok(during.deferred, 'gc ran while a backup was in flight');
  assert.is(during.blocksDeleted, 0);
  const done = await running;
  assert.is(done.blocksReused, 8);
  const after = await gcVault(vault, { graceMs: 0 });
  assert.not.ok(after.deferred);
  assert.is(after.blocksDeleted, 16, 'the orphans nobody references any more are deleted afterwards');
  assert.ok((await verifyVault(vault, { readData: true })).ok);
  const out = join(dir, 'live.out');
  await restoreDisk({ vault, diskId: 'live', backupId: 'latest', target: out });
  assert.ok(await sameBytes(orphan, out));
});

test('a lock left by a killed backup stops blocking gc once stale, and gc removes it', async () => {
  const old = new Date(Date.now() - 3_600_000).toISOString();
  await vault.store.put('locks/backup-dead-000000', Buffer.from(JSON.stringify({ kind: 'backup', owner: 'dead', refreshedAt: old })));
  const r = await gcVault(vault, { graceMs: 0 });
  assert.not.ok(r.deferred);
  assert.not.ok(await vault.store.has('locks/backup-dead-000000'));
});

test('a backup that starts while gc holds its lock waits for gc to finish', async () => {
  const src = join(dir, 'w.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'text' }]);
  const gcLock = await acquireLock(vault.store, 'gc', 'test');
  let finished = false;
  const running = backupDisk({ vault, source: src, diskId: 'w' }).then((r) => {
    finished = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.not.ok(finished, 'backup ran while gc held its lock');
  await gcLock.release();
  const r = await running;
  assert.is(r.type, 'full');
});

test.run();
