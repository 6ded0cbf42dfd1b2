// Damage in the vault: any flipped byte is found by verify, restore fails loudly and never writes wrong bytes.
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FsStore } from '../vault/fs-store.ts';
import { verifyVault } from '../vault/verify.ts';
import { Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { changeBlocks, sameBytes, tempDir, writeImage } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

const test = suite('mover: corruption and keys');
const MiB = 1 << 20;
let dir = '';
let cleanup: () => Promise<void> = async () => {};
let vault: Vault;
let key: Buffer;
let src = '';
const objects: string[] = [];

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
  key = randomBytes(32);
  vault = await Vault.init(new FsStore(join(dir, 'vault')), key);
  src = join(dir, 'disk.img');
  await writeImage(src, 6 * MiB + 999, [
    { offset: 0, length: 2 * MiB, fill: 'random' },
    { offset: 2 * MiB, length: 2 * MiB, fill: 'text' },
    { offset: 5 * MiB, length: MiB + 999, fill: 'random' },
  ]);
  await backupDisk({ vault, source: src, diskId: 'd' });
  await changeBlocks(src, 6 * MiB, MiB, 1);
  await backupDisk({ vault, source: src, diskId: 'd', parent: 'auto' });
  for await (const o of vault.store.list('')) if (o.key.startsWith('blocks/') || o.key.startsWith('manifests/')) objects.push(o.key);
});
test.after(async () => cleanup());

/** Every block of the target either holds the source's bytes or was never written (zeros). */
async function onlyCorrectBytes(target: string): Promise<boolean> {
  const [a, b] = await Promise.all([readFile(src), readFile(target).catch(() => Buffer.alloc(0))]);
  for (let at = 0; at < b.length; at += MiB) {
    const got = b.subarray(at, at + MiB);
    if (!got.equals(a.subarray(at, at + got.length)) && got.some((x) => x !== 0)) return false;
  }
  return true;
}

/** Restores every backup of disk d; returns how many failed, checking that the newest never wrote wrong bytes. */
async function restoreFailures(): Promise<number> {
  const target = join(dir, 'out.img');
  const ids = await vault.listBackups('d');
  let failed = 0;
  for (const backupId of ids) {
    await rm(target, { force: true });
    try {
      await restoreDisk({ vault, diskId: 'd', backupId, target });
    } catch (err) {
      failed++;
      assert.match((err as Error).message, /corrupt|authentication|not found/);
      if (backupId === ids.at(-1)) assert.ok(await onlyCorrectBytes(target), 'restore wrote wrong bytes');
    }
  }
  return failed;
}

test('the vault holds blocks of both backups and two manifests', () => {
  assert.ok(objects.filter((k) => k.startsWith('manifests/')).length === 2);
  assert.ok(objects.filter((k) => k.startsWith('blocks/')).length >= 6);
});

test('flipping any byte of any stored object: verify reports it, restore fails and writes no wrong byte', async () => {
  const root = join(dir, 'vault');
  for (const key of objects) {
    const path = join(root, ...key.split('/'));
    const orig = await readFile(path);
    // First, last, and one random position in between.
    for (const at of [0, orig.length - 1, Math.floor(Math.random() * orig.length)]) {
      const bad = Buffer.from(orig);
      bad[at] = (bad[at] ?? 0) ^ (1 << Math.floor(Math.random() * 8));
      await writeFile(path, bad);
      const r = await verifyVault(vault, { readData: true });
      assert.not.ok(r.ok, `verify missed a flipped byte at ${at} of ${key}`);
      if (key.startsWith('blocks/')) assert.is(r.corruptBlocks[0]?.id, key.split('/')[2]);
      // Manifest object names carry a keyed disk tag; verify names the disk by its readable id (from the other manifest).
      else assert.is(r.badManifests[0]?.name, `d/${key.split('/')[2]}`);
      assert.ok(r.damagedBackups.length > 0 || r.badManifests.length > 0);
      assert.ok((await restoreFailures()) > 0, `no restore failed after flipping byte ${at} of ${key}`);
    }
    await writeFile(path, orig);
  }
  assert.ok((await verifyVault(vault, { readData: true })).ok, 'vault not healthy after undoing the flips');
});

test('verify without --read-data reports a missing block and the backups that need it', async () => {
  const key = objects.find((k) => k.startsWith('blocks/')) as string;
  const data = await vault.store.get(key);
  await vault.store.delete(key);
  const r = await verifyVault(vault);
  assert.not.ok(r.ok);
  assert.equal(r.missingBlocks, [key.split('/')[2]]);
  assert.ok(r.damagedBackups.length >= 1);
  await vault.store.put(key, data);
});

test('repair: verify --repair quarantines a corrupt block, a forced full backup heals the vault', async () => {
  const key = objects.find((k) => k.startsWith('blocks/')) as string;
  const path = join(dir, 'vault', ...key.split('/'));
  const bad = await readFile(path);
  bad[bad.length >> 1] = (bad[bad.length >> 1] ?? 0) ^ 0xff;
  await writeFile(path, bad);
  const r = await verifyVault(vault, { readData: true, repair: true });
  assert.is(r.quarantined, 1);
  const heal = await backupDisk({ vault, source: src, diskId: 'd', parent: 'none' });
  assert.ok(heal.blocksUploaded >= 0);
  const after = await verifyVault(vault, { readData: true });
  // The newest content is healthy again; an older block that no longer exists on the disk cannot be healed.
  const out = join(dir, 'healed.img');
  await restoreDisk({ vault, diskId: 'd', backupId: heal.backupId, target: out });
  assert.ok(await sameBytes(src, out));
  assert.ok(after.ok || after.missingBlocks.length === 1, JSON.stringify(after));
});

test('a wrong key is rejected before anything is read or written', async () => {
  try {
    await Vault.open(new FsStore(join(dir, 'vault')), randomBytes(32));
    assert.unreachable('opened with a wrong key');
  } catch (err) {
    assert.match((err as Error).message, /wrong key for vault/);
  }
});

test('a vault cannot probe another vault: equal content gets different ids under different keys', async () => {
  const other = await Vault.init(new FsStore(join(dir, 'vault2')), key);
  const r = await backupDisk({ vault: other, source: src, diskId: 'd' });
  assert.ok(r.blocksUploaded > 0);
  const a = new Set<string>();
  for await (const o of vault.store.list('blocks/')) a.add(o.key);
  for await (const o of other.store.list('blocks/')) assert.not.ok(a.has(o.key), 'same block id in two vaults with the same key file');
});

test.run();
