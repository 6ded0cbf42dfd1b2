// Vault format 2 units: the authenticated config (review R4), key ids and key wrapping, rotation, keyed names (R10).
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { keyIdHex, open, seal, sealedKeyId } from './codec.ts';
import { VAULT_FORMAT_VERSION, type VaultConfig } from './config.ts';
import { metadataSubkey, readKeyFile, weakKeyReason } from './keys.ts';
import { addMasterKey, retireMasterKey, rotateDataKey } from './rotate.ts';
import { MemoryStore } from './store.ts';
import { CONFIG_KEY, Vault } from './vault.ts';
import { allocMap, type Manifest } from './manifest.ts';

const test = suite('vault keys and config');

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  await p.then(
    () => assert.unreachable(`accepted; expected ${re}`),
    (err: Error) => assert.match(err.message, re),
  );
}

async function editConfig(store: MemoryStore, edit: (c: Record<string, unknown>) => void): Promise<void> {
  const c = JSON.parse((await store.get(CONFIG_KEY)).toString()) as Record<string, unknown>;
  edit(c);
  await store.put(CONFIG_KEY, Buffer.from(JSON.stringify(c, null, 2)));
}

function manifest(v: Vault, diskId: string, backupId: string): Manifest {
  return {
    map: allocMap(1),
    header: {
      format: 'tresor-disk-manifest', version: 1, vaultId: v.config.vaultId, diskId, backupId, parentId: null,
      createdAt: new Date().toISOString(), diskSize: 100, blockSize: v.config.blockSize, type: 'full', reason: '',
      stats: { bytesRead: 0, bytesUploaded: 0, blocksUploaded: 0, blocksReused: 0, zeroBlocks: 1, durationMs: 1 },
    },
  };
}

test('R4: a bucket writer without the key cannot change the block size (or any field): open fails and says so', async () => {
  const store = new MemoryStore();
  const key = randomBytes(32);
  await Vault.init(store, key);
  const good = await store.get(CONFIG_KEY);
  for (const [field, value] of [['blockSize', 4096], ['blockSize', 2 ** 40], ['createdAt', '1999-01-01T00:00:00Z'], ['currentDataKey', '00000001']] as const) {
    await store.put(CONFIG_KEY, good);
    await editConfig(store, (c) => { c[field] = value; });
    await rejects(Vault.open(store, key), /vault config not authentic: .*someone without the key changed it/);
  }
  await store.put(CONFIG_KEY, good);
  await editConfig(store, (c) => { (c.masterKeys as unknown[]).pop(); });
  await rejects(Vault.open(store, key), /wrong key for vault/);
  await store.put(CONFIG_KEY, good);
  assert.is((await Vault.open(store, key)).config.blockSize, 1024 * 1024);
});

test('a vault of the old format (version 1) gets an error naming both versions; a newer one says upgrade', async () => {
  const store = new MemoryStore();
  await store.put(CONFIG_KEY, Buffer.from(JSON.stringify({ format: 'tresor-vault', version: 1, vaultId: 'a'.repeat(32), blockSize: 1048576, keyCheck: 'ab', createdAt: '' })));
  await rejects(Vault.open(store, randomBytes(32)), /unsupported vault format: memory:\/\/ holds vault format version 1; this Tresor reads format version 2 only: no migration exists/);
  assert.is(VAULT_FORMAT_VERSION, 2);
  await editConfig(store, (c) => { c.version = 3; });
  await rejects(Vault.open(store, randomBytes(32)), /version 3; this Tresor reads format version 2 only: upgrade Tresor/);
});

test('every sealed object carries a key id: data objects the current data key, metadata objects id 0', async () => {
  const v = await Vault.init(new MemoryStore(), randomBytes(32));
  await v.putManifest(manifest(v, 'ns.vm.disk', 'b1'));
  const sealed = await v.store.get(v.manifestKey('ns.vm.disk', 'b1'));
  assert.is(keyIdHex(sealedKeyId(sealed) ?? -1), v.config.currentDataKey);
  const meta = seal(v.keys.metadata, Buffer.from('lock body'), Buffer.from('locks/x'));
  assert.is(sealedKeyId(meta), 0);
  assert.ok(open(v.keys.metadata, meta, Buffer.from('locks/x'), 'x').equals(Buffer.from('lock body')));
  assert.throws(() => open(v.keys.blockData, meta, Buffer.from('locks/x'), 'x'), /sealed with key 00000000, which the vault config does not hold/);
  assert.throws(() => open(v.keys.metadata, sealed, Buffer.from(v.manifestKey('ns.vm.disk', 'b1')), 'x'), /where the metadata key was expected/);
});

test('rotate-key: new writes use the new data key, old objects stay readable, the stable subkeys do not change', async () => {
  const store = new MemoryStore();
  const key = randomBytes(32);
  const v1 = await Vault.init(store, key);
  await v1.putManifest(manifest(v1, 'd', 'b1'));
  const r = await rotateDataKey(store, [key]);
  assert.is.not(r.currentDataKey, v1.config.currentDataKey);
  assert.is(r.dataKeys, 2);
  const v2 = await Vault.open(store, key);
  await v2.putManifest(manifest(v2, 'd', 'b2'));
  assert.is(keyIdHex(sealedKeyId(await store.get(v2.manifestKey('d', 'b2'))) ?? -1), r.currentDataKey);
  assert.is(keyIdHex(sealedKeyId(await store.get(v2.manifestKey('d', 'b1'))) ?? -1), v1.config.currentDataKey);
  assert.is((await v2.getManifest('d', 'b1')).header.backupId, 'b1');
  assert.equal(await v2.listBackups('d'), ['b1', 'b2']);
  assert.ok(v2.keys.blockId.equals(v1.keys.blockId), 'block ids changed: dedup across a rotation would break');
  assert.ok(v2.keys.naming.equals(v1.keys.naming));
  assert.ok(metadataSubkey(v2.keys, 'lock').equals(metadataSubkey(v1.keys, 'lock')));
  // A writer that opened the vault before the rotation keeps using (and reading) the old key.
  await v1.putManifest(manifest(v1, 'd', 'b3'));
  assert.is((await v2.getManifest('d', 'b3')).header.backupId, 'b3');
});

test('a new master key re-wraps every data key; the old one is retired and no longer opens the vault', async () => {
  const store = new MemoryStore();
  const old = randomBytes(32);
  const next = randomBytes(32);
  const v1 = await Vault.init(store, old);
  await v1.putManifest(manifest(v1, 'd', 'b1'));
  const added = await addMasterKey(store, old, next);
  assert.is(added.masterKeys.length, 2);
  assert.is.not(added.currentDataKey, v1.config.currentDataKey, 'a master key change also starts a new data key');
  // During the change both keys open the vault and read everything.
  for (const k of [old, next]) assert.is((await (await Vault.open(store, k)).getManifest('d', 'b1')).header.backupId, 'b1');
  await rejects(rotateDataKey(store, [next]), /has 2 master keys .*retire-key/);
  await rejects(addMasterKey(store, next, randomBytes(32)), /already has 2 master keys/);
  await rejects(retireMasterKey(store, next, added.addedMasterKey!), /it is the key given with --key-file/);
  const oldId = (await Vault.open(store, old)).masterId;
  const retired = await retireMasterKey(store, next, oldId);
  assert.equal(retired.masterKeys, [added.addedMasterKey]);
  await rejects(Vault.open(store, old), /wrong key for vault .*not one of its master keys/);
  const v2 = await Vault.open(store, next);
  assert.is((await v2.getManifest('d', 'b1')).header.backupId, 'b1');
  await v2.putManifest(manifest(v2, 'd', 'b2'));
  await rotateDataKey(store, [next]);
  assert.is((await Vault.open(store, next)).config.dataKeys.length, 3);
});

test('the old master key cannot re-sign a config it was retired from (rollback of a single field fails)', async () => {
  const store = new MemoryStore();
  const old = randomBytes(32);
  const next = randomBytes(32);
  await Vault.init(store, old);
  await addMasterKey(store, old, next);
  await retireMasterKey(store, next, (await Vault.open(store, old)).masterId);
  const c = JSON.parse((await store.get(CONFIG_KEY)).toString()) as VaultConfig;
  assert.is(c.masterKeys.length, 1);
  assert.not.ok(JSON.stringify(c).includes((await Vault.open(store, next)).keys.blockData.current.key.toString('base64')), 'a raw data key is in the config');
});

test('R10/L1: object names reveal neither namespace, VM nor volume; a disk still lists alone', async () => {
  const v = await Vault.init(new MemoryStore(), randomBytes(32));
  await v.putManifest(manifest(v, 'tenant-a.0f1e2d3c-uid.root-disk', '20261203T082932666Z-2babbd'));
  await v.putManifest(manifest(v, 'tenant-b.99-uid.data', '20261203T082932667Z-aaaaaa'));
  const names = [...(v.store as MemoryStore).objects.keys()];
  for (const secret of ['tenant', '0f1e2d3c', 'root-disk', 'uid', 'data']) {
    assert.not.ok(names.some((n) => n.includes(secret)), `${secret} in ${names.join(', ')}`);
  }
  assert.match(v.manifestKey('tenant-a.0f1e2d3c-uid.root-disk', 'x'), /^manifests\/[0-9a-f]{32}\/x$/);
  assert.equal(await v.listBackups('tenant-a.0f1e2d3c-uid.root-disk'), ['20261203T082932666Z-2babbd']);
  assert.equal(await v.listBackups('tenant-c.none'), []);
  const all = await v.listAllManifests();
  assert.equal(all.map((m) => `${m.diskId}/${m.backupId}`).sort(), ['tenant-a.0f1e2d3c-uid.root-disk/20261203T082932666Z-2babbd', 'tenant-b.99-uid.data/20261203T082932667Z-aaaaaa']);
  // Another vault (another naming key) gives the same disk another tag.
  const w = await Vault.init(new MemoryStore(), randomBytes(32));
  assert.is.not(w.diskTag('tenant-a.0f1e2d3c-uid.root-disk'), v.diskTag('tenant-a.0f1e2d3c-uid.root-disk'));
});

test('R10/L1: while a backup runs, its lock is named by the disk tag, not the disk id', async () => {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { backupDisk } = await import('../mover/backup.ts');
  const { writeImage } = await import('../mover/fixtures.ts');
  const v = await Vault.init(new MemoryStore(), randomBytes(32), 64 * 1024);
  const src = `${await mkdtemp(`${tmpdir()}/tresor-r10-`)}/d.img`;
  await writeImage(src, 1 << 20, [{ offset: 0, length: 1 << 20, fill: 'random' }]);
  const seen = new Set<string>();
  await backupDisk({ vault: v, source: src, diskId: 'tenant-a.0f1e2d3c-uid.root-disk', onProgress: () => {
    for (const k of (v.store as MemoryStore).objects.keys()) if (k.startsWith('locks/')) seen.add(k);
  } });
  assert.ok(seen.size > 0, 'no lock seen while the backup ran');
  for (const k of seen) assert.match(k, new RegExp(`^locks/backup-${v.diskTag('tenant-a.0f1e2d3c-uid.root-disk')}-[0-9a-f]{6}$`));
});

test('a manifest copied under another disk tag or backup id fails to open', async () => {
  const v = await Vault.init(new MemoryStore(), randomBytes(32));
  await v.putManifest(manifest(v, 'a', 'b1'));
  await v.store.put(v.manifestKey('b', 'b1'), await v.store.get(v.manifestKey('a', 'b1')));
  await v.store.put(v.manifestKey('a', 'b2'), await v.store.get(v.manifestKey('a', 'b1')));
  await rejects(v.getManifest('b', 'b1'), /corrupt/);
  await rejects(v.getManifest('a', 'b2'), /corrupt/);
});

test('published example keys and patterned keys are refused; random keys are fine', async () => {
  assert.match(weakKeyReason(Buffer.from('3f9c2a7e5b1d4c8a9e6f0b2d7c4a1e8f5b3d9c6a2e7f4b1c8d5a0e3f6b9c2d7a', 'hex')) ?? '', /example key/);
  assert.match(weakKeyReason(Buffer.alloc(32, 7)) ?? '', /not random/);
  assert.is(weakKeyReason(randomBytes(32)), undefined);
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const f = `${await mkdtemp(`${tmpdir()}/tresor-key-`)}/k`;
  await writeFile(f, '9d2b7e4a1c8f5b3e6a0d9c2f7b4e1a8d5c3b6f9e2a7d4c1b8e5f0a3d6c9b2e7f\n');
  await rejects(readKeyFile(f), /unusable key: it is an example key .*openssl rand -hex 32/);
});

test.run();
