// Forget against real backups on the filesystem backend: removes one manifest, never a block, keeps
// children restorable, honours the retention lock and in-flight backups, and is idempotent.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { forgetBackup } from '../vault/forget.ts';
import { FsStore } from '../vault/fs-store.ts';
import { gcVault } from '../vault/gc.ts';
import { acquireLock } from '../vault/locks.ts';
import { verifyVault } from '../vault/verify.ts';
import { Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { changeBlocks, sameBytes, tempDir, writeImage } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

const test = suite('vault: forget');
const MiB = 1 << 20;
const BIN = fileURLToPath(new URL('../../bin/tresor.js', import.meta.url));
let dir = '';
let cleanup: () => Promise<void> = async () => {};
let vault: Vault;
const key = randomBytes(32);

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
  vault = await Vault.init(new FsStore(join(dir, 'vault')), key);
});
test.after(async () => cleanup());

async function blocks(): Promise<number> {
  let n = 0;
  for await (const _ of vault.store.list('blocks/')) n++;
  return n;
}

test('forgetting a parent keeps its incremental child restorable byte for byte, after GC too', async () => {
  const src = join(dir, 'p.img');
  await writeImage(src, 8 * MiB, [{ offset: 0, length: 8 * MiB, fill: 'random' }]);
  const full = await backupDisk({ vault, source: src, diskId: 'p' });
  await changeBlocks(src, 8 * MiB, MiB, 2);
  const inc = await backupDisk({ vault, source: src, diskId: 'p', parent: 'auto' });
  assert.is(inc.parentId, full.backupId);
  const before = await blocks();
  const r = await forgetBackup(vault, 'p', full.backupId);
  assert.is(r.outcome, 'forgotten');
  assert.equal(await vault.listBackups('p'), [inc.backupId]);
  assert.is(await blocks(), before, 'forget deleted blocks; only GC may');
  await gcVault(vault, { graceMs: 0, marginMs: 0, force: true });
  const gc = await gcVault(vault, { graceMs: 0, marginMs: 0, force: true });
  assert.ok(gc.blocksDeleted >= 1 && gc.blocksDeleted <= 2, `gc deleted ${gc.blocksDeleted} blocks, expected the 1-2 the child replaced`);
  const out = join(dir, 'p.out');
  await restoreDisk({ vault, diskId: 'p', backupId: inc.backupId, target: out });
  assert.ok(await sameBytes(src, out));
  assert.ok((await verifyVault(vault, { readData: true })).ok);
});

test('forget is idempotent: an absent backup is success', async () => {
  const r = await forgetBackup(vault, 'p', '20200101T000000000Z-abcdef');
  assert.is(r.outcome, 'absent');
});

test('the retention lock keeps a young manifest and says until when; an old enough one goes', async () => {
  const src = join(dir, 'l.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'text' }]);
  const b = await backupDisk({ vault, source: src, diskId: 'l' });
  const locked = await forgetBackup(vault, 'l', b.backupId, { retentionLockDays: 7 });
  assert.is(locked.outcome, 'locked');
  assert.ok(locked.lockedUntil && Date.parse(locked.lockedUntil) > Date.now() + 6 * 86_400_000);
  assert.match(locked.reason, /retention lock of 7 day/);
  assert.equal(await vault.listBackups('l'), [b.backupId]);
  const later = await forgetBackup(vault, 'l', b.backupId, { retentionLockDays: 7, now: () => Date.now() + 8 * 86_400_000 });
  assert.is(later.outcome, 'forgotten');
  assert.equal(await vault.listBackups('l'), []);
});

test('a backup of the same disk in flight defers forget; one of another disk does not', async () => {
  const src = join(dir, 'd.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'text' }]);
  const b = await backupDisk({ vault, source: src, diskId: 'd' });
  const other = await acquireLock(vault.store, 'backup', 'elsewhere');
  const same = await acquireLock(vault.store, 'backup', vault.diskTag('d'));
  try {
    const r = await forgetBackup(vault, 'd', b.backupId);
    assert.is(r.outcome, 'deferred');
    assert.equal(await vault.listBackups('d'), [b.backupId]);
  } finally {
    await same.release();
  }
  try {
    assert.is((await forgetBackup(vault, 'd', b.backupId)).outcome, 'forgotten');
  } finally {
    await other.release();
  }
});

test('tresor vault forget: JSON report, exit 0 when forgotten or absent, 3 when the lock refuses', async () => {
  const src = join(dir, 'c.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'text' }]);
  const b = await backupDisk({ vault, source: src, diskId: 'c' });
  const keyFile = join(dir, 'key');
  await writeFile(keyFile, key.toString('hex'));
  const url = `file://${join(dir, 'vault')}`;
  const run = (...extra: string[]): { status: number | null; out: { outcome: string } } => {
    const p = spawnSync(process.execPath, [BIN, 'vault', 'forget', '--vault', url, '--key-file', keyFile, '--disk-id', 'c', '--backup', b.backupId, '--json', ...extra], { encoding: 'utf8' });
    return { status: p.status, out: JSON.parse(p.stdout || '{}') as { outcome: string } };
  };
  const locked = run('--retention-lock-days', '30');
  assert.is(locked.status, 3);
  assert.is(locked.out.outcome, 'locked');
  const done = run();
  assert.is(done.status, 0);
  assert.is(done.out.outcome, 'forgotten');
  const again = run();
  assert.is(again.status, 0);
  assert.is(again.out.outcome, 'absent');
});

test.run();
