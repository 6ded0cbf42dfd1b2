// Vault format units: sealing, keys, manifests, config, against the in-memory store.
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { blockId, open, openBlock, seal, sealBlock } from './codec.ts';
import { decodeManifest, encodeManifest, type Manifest, ZERO_ID } from './manifest.ts';
import { storeFromUrl } from './location.ts';
import { keyRing } from './keys.ts';
import { MemoryStore } from './store.ts';
import { blockKey, newBackupId, Vault } from './vault.ts';

const test = suite('vault format');
const key = randomBytes(32);

test('seal/open round-trips random and compressible data, and compresses only what pays', () => {
  const ctx = Buffer.from('ctx');
  const rnd = randomBytes(1 << 20);
  const text = Buffer.from('abc '.repeat(1 << 18));
  assert.ok(open(key, seal(key, rnd, ctx), ctx, 'x').equals(rnd));
  const sealedText = seal(key, text, ctx);
  assert.ok(sealedText.length < text.length / 10, 'text was not compressed');
  assert.ok(open(key, sealedText, ctx, 'x').equals(text));
  assert.ok(seal(key, rnd, ctx).length <= rnd.length + 50, 'random data grew by more than the header');
});

test('any flipped bit, another context or another key fails authentication', () => {
  const ctx = Buffer.from('blocks/aa');
  const sealed = seal(key, randomBytes(5000), ctx);
  for (let at = 0; at < sealed.length; at += 397) {
    const bad = Buffer.from(sealed);
    bad[at] = (bad[at] ?? 0) ^ 1;
    assert.throws(() => open(key, bad, ctx, 'x'), /corrupt/);
  }
  assert.throws(() => open(key, sealed, Buffer.from('blocks/ab'), 'x'), /authentication failed/);
  assert.throws(() => open(randomBytes(32), sealed, ctx, 'x'), /authentication failed/);
});

test('sealBlock/openBlock check the id: a block stored under another id is rejected', async () => {
  const keys = { blockId: randomBytes(32), blockData: keyRing(new Map([[7, randomBytes(32)]]), 7) };
  const a = randomBytes(3000);
  const b = randomBytes(3000);
  const idA = blockId(keys.blockId, a);
  const sealedA = await sealBlock(keys.blockData, a, idA);
  assert.ok((await openBlock(keys, sealedA, idA)).equals(a));
  const idB = blockId(keys.blockId, b);
  await openBlock(keys, sealedA, idB).then(
    () => assert.unreachable('opened a block under another id'),
    (err: Error) => assert.match(err.message, /corrupt/),
  );
});

test('manifests round-trip and are bound to their name', () => {
  const map = Buffer.concat([randomBytes(32), ZERO_ID, randomBytes(32)]);
  const m: Manifest = {
    map,
    header: {
      format: 'tresor-disk-manifest', version: 1, vaultId: 'v', diskId: 'd', backupId: 'b1', parentId: null,
      createdAt: new Date().toISOString(), diskSize: 3 * 1024 - 5, blockSize: 1024, type: 'full', reason: 'r',
      stats: { bytesRead: 0, bytesUploaded: 0, blocksUploaded: 0, blocksReused: 0, zeroBlocks: 1, durationMs: 1 },
    },
  };
  const ring = keyRing(new Map([[7, key]]), 7);
  const sealed = encodeManifest(ring, 'manifests/t/b1', m);
  const back = decodeManifest(ring, sealed, { name: 'manifests/t/b1', backupId: 'b1', diskId: 'd' });
  assert.equal(back.header, m.header);
  assert.ok(back.map.equals(map));
  assert.throws(() => decodeManifest(ring, sealed, { name: 'manifests/t/b2', backupId: 'b2' }), /corrupt/);
  assert.throws(() => decodeManifest(ring, sealed, { name: 'manifests/t/b1', backupId: 'b1', diskId: 'e' }), /header names d\/b1/);
});

test('a vault opens with its key, refuses another key and a second init', async () => {
  const store = new MemoryStore();
  const v = await Vault.init(store, key);
  assert.is((await Vault.open(store, key)).config.vaultId, v.config.vaultId);
  await Vault.open(store, randomBytes(32)).then(
    () => assert.unreachable('wrong key accepted'),
    (err: Error) => assert.match(err.message, /wrong key for vault [0-9a-f]+ at memory:\/\//),
  );
  await Vault.init(store, key).then(
    () => assert.unreachable('second init accepted'),
    (err: Error) => assert.match(err.message, /already exists/),
  );
  await Vault.open(new MemoryStore(), key).then(
    () => assert.unreachable('opened an empty store'),
    (err: Error) => assert.match(err.message, /no vault at .*tresor vault init/),
  );
});

test('bad vault URLs say what a good one looks like', async () => {
  for (const url of ['foo', 'http://x/y', 's3:///prefix', 'ftp://host/v']) {
    await storeFromUrl(url).then(
      () => assert.unreachable(`accepted ${url}`),
      (err: Error) => assert.match(err.message, /bad vault URL .*file:\/\/\/absolute\/path/),
    );
  }
  assert.is((await storeFromUrl('file:///tmp/v')).location, 'file:///tmp/v');
  assert.match((await storeFromUrl('s3://bucket/a/b?endpoint=http://127.0.0.1:1')).location, /^s3:\/\/bucket\/a\/b\//);
});

test('backup ids sort by creation time; block keys fan out by the first byte', () => {
  const a = newBackupId(new Date('2026-01-01T00:00:00Z'));
  const b = newBackupId(new Date('2026-01-01T00:00:01Z'));
  assert.ok(a < b);
  assert.match(blockKey(Buffer.alloc(32, 0xab)), /^blocks\/ab\/(ab){32}$/);
});

test.run();
