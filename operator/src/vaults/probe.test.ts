import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupVaultObject } from '../api/types.ts';
import { newConfig } from '../vault/config.ts';
import { backendUrl, checkVault, ConfigReadError, parseVaultKey, type ConfigReader, type SecretReader } from './probe.ts';

const KEY = Buffer.from('5be0c1a2f3e4d5c6b7a8998877665544332211ffeeddccbbaa00112233445566', 'hex');
const OTHER = Buffer.from('0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'hex');

function vault(spec: Partial<BackupVaultObject['spec']> = {}): BackupVaultObject {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace: 'ns', generation: 1 },
    spec: { s3: { bucket: 'bkt', prefix: 'vms', endpoint: 'http://s3:9000', credentialsSecretRef: { name: 's3' } }, encryption: { keySecretRef: { name: 'key' } }, ...spec },
  } as BackupVaultObject;
}

const secretsOf = (map: Record<string, Record<string, string>>): SecretReader => ({
  read: async (ns, name) => {
    const s = map[`${ns}/${name}`];
    return s && Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Buffer.from(v)]));
  },
});
const good = { 'ns/key': { key: KEY.toString('hex') }, 'ns/s3': { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' } };
const made = newConfig(KEY, 65536).config;
const config = (key: Buffer, over: Record<string, unknown> = {}): Buffer =>
  Buffer.from(JSON.stringify({ ...(key === KEY ? made : newConfig(key, 65536).config), ...over }));
const reads = (out: Buffer | Error): ConfigReader => async () => {
  if (out instanceof Error) throw out;
  return out;
};

test('a reachable vault with the right key is Ready with its id and format', async () => {
  let seen: unknown;
  const r = await checkVault(vault(), { secrets: secretsOf(good), readConfig: async (t) => {
    seen = t;
    return config(KEY);
  } });
  assert.equal([r.status, r.reason, r.repositoryId, r.formatVersion, r.reached, r.backend], ['True', 'VaultReady', made.vaultId, 2, true, 's3://bkt/vms']);
  assert.equal(seen, { endpoint: 'http://s3:9000', region: 'us-east-1', bucket: 'bkt', prefix: 'vms/', forcePathStyle: false, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
});

test('another key is WrongKey and says the data needs the original key', async () => {
  const r = await checkVault(vault(), { secrets: secretsOf({ ...good, 'ns/key': { key: OTHER.toString('hex') } }), readConfig: reads(config(KEY)) });
  assert.equal([r.status, r.reason, r.reached], ['False', 'WrongKey', true]);
  assert.match(r.message, /original key/);
});

test('missing Secrets and keys name the Secret and what to put in it', async () => {
  const noKey = await checkVault(vault(), { secrets: secretsOf({ 'ns/s3': good['ns/s3'] }), readConfig: reads(config(KEY)) });
  assert.equal([noKey.status, noKey.reason], ['False', 'KeySecretMissing']);
  assert.match(noKey.message, /Secret ns\/key .*does not exist/);
  const wrongField = await checkVault(vault({ encryption: { keySecretRef: { name: 'key', key: 'vault.key' } } }), { secrets: secretsOf(good), readConfig: reads(config(KEY)) });
  assert.equal(wrongField.reason, 'KeySecretMissing');
  assert.match(wrongField.message, /no key 'vault.key' \(it has: key\)/);
  const short = await checkVault(vault(), { secrets: secretsOf({ ...good, 'ns/key': { key: 'abc' } }), readConfig: reads(config(KEY)) });
  assert.equal(short.reason, 'KeyInvalid');
  const noCreds = await checkVault(vault(), { secrets: secretsOf({ 'ns/key': good['ns/key'] }), readConfig: reads(config(KEY)) });
  assert.equal(noCreds.reason, 'CredentialsMissing');
  const halfCreds = await checkVault(vault(), { secrets: secretsOf({ ...good, 'ns/s3': { AWS_ACCESS_KEY_ID: 'a' } }), readConfig: reads(config(KEY)) });
  assert.match(halfCreds.message, /lacks AWS_SECRET_ACCESS_KEY/);
});

test('S3 failures map to a reason each', async () => {
  const cases: Array<[ConfigReadError | Error, string]> = [
    [new ConfigReadError('NoSuchBucket', 'NoSuchBucket'), 'BucketNotFound'],
    [new ConfigReadError('NoSuchKey', 'NoSuchKey'), 'VaultUninitialized'],
    [new ConfigReadError('AccessDenied', 'InvalidAccessKeyId'), 'CredentialsRejected'],
    [new ConfigReadError('Unreachable', 'ECONNREFUSED'), 'VaultUnreachable'],
    [new Error('bug'), 'VaultUnreachable'],
  ];
  for (const [err, reason] of cases) {
    const r = await checkVault(vault(), { secrets: secretsOf(good), readConfig: reads(err) });
    assert.equal([r.status, r.reason, r.reached], ['False', reason, false], reason);
  }
});

test('a config that is not a vault, or of another format version, is not Ready and names both versions', async () => {
  const junk = await checkVault(vault(), { secrets: secretsOf(good), readConfig: reads(Buffer.from('hello')) });
  assert.equal(junk.reason, 'VaultUninitialized');
  const old = await checkVault(vault(), { secrets: secretsOf(good), readConfig: reads(Buffer.from(JSON.stringify({ format: 'tresor-vault', version: 1, vaultId: 'abc', blockSize: 65536, keyCheck: 'ab' }))) });
  assert.equal([old.reason, old.formatVersion], ['VaultUnsupported', 1]);
  assert.match(old.message, /format version 1; this Tresor reads format version 2/);
  const newer = await checkVault(vault(), { secrets: secretsOf(good), readConfig: reads(config(KEY, { version: 3 })) });
  assert.equal([newer.reason, newer.formatVersion], ['VaultUnsupported', 3]);
  assert.match(newer.message, /upgrade Tresor/);
});

test('a config changed without the key (block size) is VaultConfigNotAuthentic, not Ready', async () => {
  const r = await checkVault(vault(), { secrets: secretsOf(good), readConfig: reads(config(KEY, { blockSize: 4096 })) });
  assert.equal([r.status, r.reason, r.reached], ['False', 'VaultConfigNotAuthentic', true]);
  assert.match(r.message, /someone without the key changed it/);
});

test('a key printed in the docs, or an all-one-byte key, is KeyInvalid', async () => {
  for (const k of ['3f9c2a7e5b1d4c8a9e6f0b2d7c4a1e8f5b3d9c6a2e7f4b1c8d5a0e3f6b9c2d7a', '07'.repeat(32)]) {
    const r = await checkVault(vault(), { secrets: secretsOf({ ...good, 'ns/key': { key: k } }), readConfig: reads(config(KEY)) });
    assert.equal([r.status, r.reason], ['False', 'KeyInvalid']);
    assert.match(r.message, /unusable vault key/);
  }
});

test('a filesystem vault: the key Secret is checked, the data is NotVerified but Ready', async () => {
  const fs = vault({ s3: undefined, filesystem: { persistentVolumeClaim: { claimName: 'data', subPath: 'v' } } } as Partial<BackupVaultObject['spec']>);
  delete (fs.spec as { s3?: unknown }).s3;
  const filesystemVaults = [{ namespace: 'ns', pvc: true }];
  const ok = await checkVault(fs, { secrets: secretsOf(good), readConfig: reads(new Error('must not be called')), filesystemVaults });
  assert.equal([ok.status, ok.reason, ok.backend], ['True', 'NotVerified', 'pvc://data/v']);
  const missing = await checkVault(fs, { secrets: secretsOf({}), readConfig: reads(config(KEY)), filesystemVaults });
  assert.equal([missing.status, missing.reason], ['False', 'KeySecretMissing']);
});

test('keys parse as tresor vault init writes them; backend URLs', () => {
  assert.equal(parseVaultKey(Buffer.from(`${KEY.toString('hex')}\n`)), KEY);
  assert.equal(parseVaultKey(KEY), KEY);
  assert.is(parseVaultKey(Buffer.from('too short')), undefined);
  assert.is(backendUrl(vault({ filesystem: { path: '/srv/v' } } as Partial<BackupVaultObject['spec']>)), 's3://bkt/vms');
});

test.run();
