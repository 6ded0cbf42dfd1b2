// Key rotation end to end through the CLI against the real S3 server: back up, rotate the data key, back up,
// add a new master key, back up with it, retire the old master key, and restore every point byte for byte.
// Also: a config edited without the key (review R4) is refused by `vault check` and by a backup, and object
// names keep namespace, VM and volume to themselves (R10).
import { spawnSync } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { changeBlocks, sameBytes, tempDir, writeImage } from '../../operator/src/mover/fixtures.ts';
import { keyIdHex, sealedKeyId } from '../../operator/src/vault/codec.ts';
import { createBucket, deleteBucket, s3Client, testEnv } from '../harness.ts';

const test = suite('vault key rotation on S3 (CLI)');
const MiB = 1 << 20;
const BIN = fileURLToPath(new URL('../../operator/bin/tresor.js', import.meta.url));
const DISK = 'tenant-a.0f1e2d3c-5a6b-uid.root-disk';
let bucket = '';
let url = '';
let dir = '';
let cleanup: () => Promise<void> = async () => {};

function tresor(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function ok(...args: string[]): string {
  const r = tresor(...args);
  assert.is(r.code, 0, `tresor ${args.slice(0, 2).join(' ')} failed: ${r.err}`);
  return r.out;
}

async function object(key: string): Promise<Buffer> {
  const got = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: `rot/${key}` }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

async function objectNames(): Promise<string[]> {
  const r = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'rot/' }));
  return (r.Contents ?? []).map((o) => (o.Key ?? '').slice('rot/'.length));
}

test.before(async () => {
  bucket = await createBucket('rotation');
  url = `s3://${bucket}/rot?endpoint=${encodeURIComponent(testEnv().s3.endpoint)}`;
  ({ dir, cleanup } = await tempDir());
});
test.after(async () => {
  await cleanup();
  if (bucket) await deleteBucket(bucket);
});

test('back up, rotate, back up, new master key, back up, retire the old master key: every point restores byte for byte', async () => {
  const k1 = join(dir, 'k1.key');
  const k2 = join(dir, 'k2.key');
  const src = join(dir, 'disk.img');
  ok('vault', 'init', '--vault', url, '--key-file', k1, '--block-size', '256K');
  await writeImage(src, 8 * MiB + 4096, [{ offset: 0, length: 6 * MiB, fill: 'random' }, { offset: 7 * MiB, length: MiB, fill: 'text' }]);
  const points: { id: string; copy: string }[] = [];
  const backup = async (keyFile: string): Promise<{ backupId: string; blocksUploaded: number; blocksReused: number }> => {
    const r = JSON.parse(ok('disk', 'backup', '--vault', url, '--key-file', keyFile, '--source', src, '--disk-id', DISK, '--parent', 'auto', '--json')) as { backupId: string; blocksUploaded: number; blocksReused: number };
    const copy = join(dir, `point-${points.length}.img`);
    await copyFile(src, copy);
    points.push({ id: r.backupId, copy });
    return r;
  };
  const keys = (keyFile: string): { masterKeys: { id: string; thisKey: boolean }[]; dataKeys: { id: string; current: boolean }[] } =>
    JSON.parse(ok('vault', 'keys', '--vault', url, '--key-file', keyFile, '--json')) as never;

  await backup(k1);
  const firstDataKey = keys(k1).dataKeys[0]!.id;
  const rotated = JSON.parse(ok('vault', 'rotate-key', '--vault', url, '--key-file', k1, '--json')) as { currentDataKey: string; dataKeys: number };
  assert.is.not(rotated.currentDataKey, firstDataKey);
  assert.is(rotated.dataKeys, 2);
  await changeBlocks(src, 8 * MiB, 256 * 1024, 3);
  const second = await backup(k1);
  assert.ok(second.blocksReused > 0, 'dedup against blocks sealed with the old data key stopped working after the rotation');
  assert.ok(second.blocksUploaded <= 3 + 1, `uploaded ${second.blocksUploaded} blocks for 3 changed ones`);

  // Manifests name the data key that sealed them: the old one before the rotation, the new one after.
  const manifests = (await objectNames()).filter((n) => n.startsWith('manifests/')).sort();
  assert.is(manifests.length, 2);
  const idOf = async (name: string): Promise<string> => keyIdHex(sealedKeyId(await object(name)) ?? -1);
  assert.equal([await idOf(manifests[0]!), await idOf(manifests[1]!)], [firstDataKey, rotated.currentDataKey]);

  const added = JSON.parse(ok('vault', 'rotate-key', '--vault', url, '--key-file', k1, '--new-key-file', k2, '--json')) as { masterKeys: string[]; addedMasterKey: string; keyCreated: boolean };
  assert.is(added.masterKeys.length, 2);
  assert.ok(added.keyCreated);
  await changeBlocks(src, 8 * MiB, 256 * 1024, 2);
  await backup(k2);
  // Until the old master key is retired, pods that still hold it keep working.
  ok('vault', 'check', '--vault', url, '--key-file', k1);
  const retired = tresor('vault', 'retire-key', '--vault', url, '--key-file', k2, '--retire-key-file', k1, '--json');
  assert.is(retired.code, 0, retired.err);
  assert.equal((JSON.parse(retired.out) as { masterKeys: string[] }).masterKeys, [added.addedMasterKey]);
  const old = tresor('disk', 'restore', '--vault', url, '--key-file', k1, '--disk-id', DISK, '--target', join(dir, 'never.img'));
  assert.is(old.code, 1);
  assert.match(old.err, /wrong key for vault .*not one of its master keys/);
  assert.equal(keys(k2).dataKeys.length, 3);

  for (const [i, p] of points.entries()) {
    const out = join(dir, `restored-${i}.img`);
    ok('disk', 'restore', '--vault', url, '--key-file', k2, '--disk-id', DISK, '--backup', p.id, '--target', out);
    assert.ok(await sameBytes(p.copy, out), `point ${i} (${p.id}) did not restore byte for byte after the rotations`);
  }
  const verify = tresor('vault', 'verify', '--vault', url, '--key-file', k2, '--read-data', '--json');
  assert.is(verify.code, 0, verify.out + verify.err);
  assert.is((JSON.parse(verify.out) as { manifests: number }).manifests, 3);
});

test('R10: after a backup, the object names a bucket reader sees reveal neither namespace, VM nor volume', async () => {
  const k = join(dir, 'r10.key');
  const r10 = `s3://${bucket}/r10?endpoint=${encodeURIComponent(testEnv().s3.endpoint)}`;
  ok('vault', 'init', '--vault', r10, '--key-file', k);
  const src = join(dir, 'r10.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'random' }]);
  ok('disk', 'backup', '--vault', r10, '--key-file', k, '--source', src, '--disk-id', DISK);
  const r = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'r10/' }));
  const names = (r.Contents ?? []).map((o) => o.Key ?? '');
  assert.ok(names.some((n) => n.startsWith('r10/manifests/')), `no manifest among ${names.join(' ')}`);
  for (const part of ['tenant-a', '0f1e2d3c', 'root-disk']) assert.not.ok(names.some((n) => n.includes(part)), `${part} in ${names.join(' ')}`);
  // The disk still lists by its readable id (the CLI keys it), and restores.
  const list = JSON.parse(ok('disk', 'list', '--vault', r10, '--key-file', k, '--disk-id', DISK, '--json')) as unknown[];
  assert.is(list.length, 1);
  ok('disk', 'restore', '--vault', r10, '--key-file', k, '--disk-id', DISK, '--target', join(dir, 'r10.out'));
  assert.ok(await sameBytes(src, join(dir, 'r10.out')));
});

test('R4: a config edited without the key (block size) is refused with a clear error; the original opens again', async () => {
  const k = join(dir, 'r4.key');
  const r4 = `s3://${bucket}/r4?endpoint=${encodeURIComponent(testEnv().s3.endpoint)}`;
  ok('vault', 'init', '--vault', r4, '--key-file', k);
  const s3 = s3Client();
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'r4/config' }));
  const orig = Buffer.from(await got.Body!.transformToByteArray());
  const edited = orig.toString().replace('"blockSize": 1048576', '"blockSize": 4096');
  assert.is.not(edited, orig.toString());
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'r4/config', Body: edited }));
  const check = tresor('vault', 'check', '--vault', r4, '--key-file', k);
  assert.is(check.code, 1);
  assert.match(check.err, /vault config not authentic: .*someone without the key changed it/);
  const src = join(dir, 'r4.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'random' }]);
  const b = tresor('disk', 'backup', '--vault', r4, '--key-file', k, '--source', src, '--disk-id', 'd');
  assert.is(b.code, 1, 'a backup ran against a tampered config');
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'r4/config', Body: orig }));
  ok('vault', 'check', '--vault', r4, '--key-file', k);
});

test.run();
