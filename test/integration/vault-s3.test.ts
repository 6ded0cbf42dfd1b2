// The data path through the real S3 server: backups restore byte-exact, incrementals upload ~1%, a flipped
// byte in any stored object is caught, GC during a backup loses nothing, and the CLI speaks s3:// URLs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backupDisk } from '../../operator/src/mover/backup.ts';
import { changeBlocks, imageKinds, sameBytes, tempDir, writeImage } from '../../operator/src/mover/fixtures.ts';
import { restoreDisk } from '../../operator/src/mover/restore.ts';
import { forgetBackup } from '../../operator/src/vault/forget.ts';
import { gcVault } from '../../operator/src/vault/gc.ts';
import { storeNow } from '../../operator/src/vault/locks.ts';
import { storeFromUrl } from '../../operator/src/vault/location.ts';
import { verifyVault } from '../../operator/src/vault/verify.ts';
import { Vault } from '../../operator/src/vault/vault.ts';
import { createBucket, deleteBucket, s3Client, testEnv } from '../harness.ts';

const test = suite('vault on S3');
const MiB = 1 << 20;
const BIN = fileURLToPath(new URL('../../operator/bin/tresor.js', import.meta.url));
let bucket = '';
let url = '';
let dir = '';
let cleanup: () => Promise<void> = async () => {};
let vault: Vault;
const key = randomBytes(32);

test.before(async () => {
  const env = testEnv();
  bucket = await createBucket('vault');
  url = `s3://${bucket}/vaults/one?endpoint=${encodeURIComponent(env.s3.endpoint)}`;
  ({ dir, cleanup } = await tempDir());
  vault = await Vault.init(await storeFromUrl(url), key);
});
test.after(async () => {
  await cleanup();
  if (bucket) await deleteBucket(bucket);
});

for (const [kind, img] of Object.entries(imageKinds(12))) {
  test(`restore from S3 is byte-exact: ${kind}`, async () => {
    const src = join(dir, 'src.img');
    await writeImage(src, img.size, img.segments);
    const diskId = kind.replace(/ /g, '-');
    const r = await backupDisk({ vault, source: src, diskId });
    const out = join(dir, 'out.img');
    await restoreDisk({ vault, diskId, backupId: r.backupId, target: out });
    assert.ok(await sameBytes(src, out));
  });
}

test('a 1% change uploads about 1% to S3', async () => {
  const src = join(dir, 'inc.img');
  await writeImage(src, 100 * MiB, [{ offset: 0, length: 100 * MiB, fill: 'random' }]);
  const full = await backupDisk({ vault, source: src, diskId: 'inc' });
  await changeBlocks(src, 100 * MiB, MiB, 1);
  const inc = await backupDisk({ vault, source: src, diskId: 'inc', parent: 'auto' });
  assert.is(inc.blocksUploaded, 1);
  assert.ok(inc.bytesUploaded <= full.bytesUploaded * 0.011);
  const out = join(dir, 'inc.out');
  await restoreDisk({ vault, diskId: 'inc', backupId: 'latest', target: out });
  assert.ok(await sameBytes(src, out));
});

test('a flipped byte in a stored S3 object is reported by verify and fails the restore', async () => {
  const s3 = s3Client();
  const m = await vault.getManifest('inc', (await vault.listBackups('inc')).at(-1) as string);
  const id = m.map.subarray(32 * 7, 32 * 8).toString('hex');
  const objectKey = `vaults/one/blocks/${id.slice(0, 2)}/${id}`;
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey }));
  const orig = Buffer.from(await got.Body!.transformToByteArray());
  const bad = Buffer.from(orig);
  const at = Math.floor(Math.random() * bad.length);
  bad[at] = (bad[at] ?? 0) ^ 0x10;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: bad }));
  const r = await verifyVault(vault, { readData: true });
  assert.not.ok(r.ok);
  assert.is(r.corruptBlocks[0]?.id, id);
  try {
    await restoreDisk({ vault, diskId: 'inc', backupId: 'latest', target: join(dir, 'bad.out') });
    assert.unreachable('restore of a corrupt block succeeded');
  } catch (err) {
    assert.match((err as Error).message, /block 7 \(offset 7340032\).*corrupt/);
  }
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: orig }));
  assert.ok((await verifyVault(vault, { readData: true })).ok);
});

test('gc on S3 runs beside a backup that reuses condemned blocks; nothing it references is lost and no garbage stays', async () => {
  const src = join(dir, 'gc.img');
  await writeImage(src, 16 * MiB, [{ offset: 0, length: 16 * MiB, fill: 'random' }]);
  const first = await backupDisk({ vault, source: src, diskId: 'gc' });
  await vault.store.delete(vault.manifestKey('gc', first.backupId));
  // No grace and no margin: the harshest GC there is (test-only settings, hence force).
  const harsh = { graceMs: 0, marginMs: 0, force: true } as const;
  const condemned = await gcVault(vault, harsh);
  assert.ok(condemned.blocksCondemned >= 16, 'the orphans are condemned');
  // Half the blocks now exist only as condemned orphans the next backup dedups against; the other half is
  // new data that the bandwidth limit keeps in flight while a second pass deletes the condemned orphans.
  const fh = await open(src, 'r+');
  await fh.write(randomBytes(8 * MiB), 0, 8 * MiB, 8 * MiB);
  await fh.close();
  const running = backupDisk({ vault, source: src, diskId: 'gc2', bandwidthBytesPerSecond: 2 * MiB, uploadConcurrency: 2 });
  await new Promise((r) => setTimeout(r, 500));
  const during = await gcVault(vault, harsh);
  assert.not.ok(during.deferred, 'gc waits for no backup');
  const done = await running;
  // How many it rescued depends on timing (condemned and still there, or already deleted): either way it re-uploaded them.
  console.log(`    backup beside gc: ${JSON.stringify(done.check)}`);
  assert.ok((await verifyVault(vault, { readData: true })).ok);
  const out = join(dir, 'gc.out');
  await restoreDisk({ vault, diskId: 'gc2', backupId: 'latest', target: out });
  assert.ok(await sameBytes(src, out));
  // S3 stamps whole seconds: a block written in the second its set was written waits one more pass.
  let last = await gcVault(vault, harsh);
  for (let i = 0; i < 3 && last.blocksSeen !== last.blocksReferenced; i++) last = await gcVault(vault, harsh);
  assert.is(last.blocksSeen, last.blocksReferenced, 'garbage left behind after four more passes');
});

test('the CLI backs up to and restores from an s3:// vault; a wrong key and an unreachable endpoint are clear errors', async () => {
  const keyFile = join(dir, 'cli.key');
  const cliUrl = `s3://${bucket}/vaults/cli?endpoint=${encodeURIComponent(testEnv().s3.endpoint)}`;
  const run = (args: string[]): { code: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  assert.is(run(['vault', 'init', '--vault', cliUrl, '--key-file', keyFile]).code, 0);
  const src = join(dir, 'cli.img');
  await writeImage(src, 3 * MiB + 5, [{ offset: 0, length: 3 * MiB + 5, fill: 'random' }]);
  const b = run(['disk', 'backup', '--vault', cliUrl, '--key-file', keyFile, '--source', src, '--disk-id', 'c', '--json']);
  assert.is(b.code, 0, b.err);
  assert.is((JSON.parse(b.out) as { blocksUploaded: number }).blocksUploaded, 4);
  const out = join(dir, 'cli.out');
  const r = run(['disk', 'restore', '--vault', cliUrl, '--key-file', keyFile, '--disk-id', 'c', '--target', out]);
  assert.is(r.code, 0, r.err);
  assert.ok(await sameBytes(src, out));
  await writeFile(join(dir, 'wrong.key'), randomBytes(32).toString('hex'));
  const w = run(['vault', 'verify', '--vault', cliUrl, '--key-file', join(dir, 'wrong.key')]);
  assert.is(w.code, 1);
  assert.match(w.err, /wrong key for vault/);
  const u = run(['vault', 'verify', '--vault', `s3://${bucket}/x?endpoint=http://127.0.0.1:9`, '--key-file', keyFile]);
  assert.is(u.code, 1);
  assert.match(u.err, /cannot reach vault s3:\/\//);
});

test('forget on S3 removes only the parent\'s manifest; the child restores byte for byte after GC; the lock refuses', async () => {
  const src = join(dir, 'forget.img');
  await writeImage(src, 6 * MiB, [{ offset: 0, length: 6 * MiB, fill: 'random' }]);
  const full = await backupDisk({ vault, source: src, diskId: 'forget' });
  await changeBlocks(src, 6 * MiB, MiB, 1);
  const inc = await backupDisk({ vault, source: src, diskId: 'forget', parent: 'auto' });
  assert.is((await forgetBackup(vault, 'forget', inc.backupId, { retentionLockDays: 1 })).outcome, 'locked');
  assert.is((await forgetBackup(vault, 'forget', full.backupId)).outcome, 'forgotten');
  assert.is((await forgetBackup(vault, 'forget', full.backupId)).outcome, 'absent');
  assert.equal(await vault.listBackups('forget'), [inc.backupId]);
  // S3 stamps whole seconds, and GC deletes only blocks strictly older than the set that condemned them:
  // wait until the store's own clock has left the second of the last block write before the condemning pass.
  const written = await storeNow(vault.store);
  while ((await storeNow(vault.store)) <= written) await new Promise((r) => setTimeout(r, 100));
  await gcVault(vault, { graceMs: 0, marginMs: 0, force: true });
  const gc = await gcVault(vault, { graceMs: 0, marginMs: 0, force: true });
  assert.not.ok(gc.deferred);
  assert.ok(gc.blocksDeleted >= 1, 'gc reclaimed nothing of the forgotten backup');
  const out = join(dir, 'forget.out');
  await restoreDisk({ vault, diskId: 'forget', backupId: inc.backupId, target: out });
  assert.ok(await sameBytes(src, out));
  assert.ok((await verifyVault(vault, {})).ok);
});

test.run();
