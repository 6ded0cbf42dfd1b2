// R11 (review L2): the operator and the pods read spec.s3.prefix the same way, and bad prefixes are refused.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BackupVault } from '../api/backupvault.ts';
import type { BackupVaultObject } from '../api/types.ts';
import { vaultUrl } from '../backup/kube/vault-access.ts';
import { s3Target } from '../vaults/probe.ts';
import { s3Prefix, s3VaultUrl, storeFromUrl } from './location.ts';

const test = suite('vault location');

function vault(prefix: string): BackupVaultObject {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace: 'ns' },
    spec: { s3: { bucket: 'bkt', prefix, endpoint: 'https://s3.example', region: 'eu-1', credentialsSecretRef: { name: 'c' } }, encryption: { keySecretRef: { name: 'k' } } },
  } as BackupVaultObject;
}

const secrets = { read: async () => ({ AWS_ACCESS_KEY_ID: Buffer.from('a'), AWS_SECRET_ACCESS_KEY: Buffer.from('b') }) };

/** The prefix the schema's pattern and CEL rule (as the apiserver runs them) accept. */
function schemaAccepts(prefix: string): boolean {
  const schema = (BackupVault.spec as unknown as { properties: { s3: { properties: { prefix: { pattern: string } } } } }).properties.s3.properties.prefix;
  return new RegExp(schema.pattern).test(prefix) && !prefix.split('/').some((s) => s === '.' || s === '..');
}

test('R11: the pods (from the --vault URL) and the operator (probe, forget, GC) use the same prefix', async () => {
  const cases: [string, string][] = [['', ''], ['prod/cluster-a', 'prod/cluster-a/'], ['a/b/', 'a/b/'], ["x!_.*'()-y", "x!_.*'()-y/"], ['tresor', 'tresor/']];
  for (const [prefix, want] of cases) {
    const v = vault(prefix);
    const op = await s3Target(v, secrets, '');
    assert.ok(op.ok);
    const url = vaultUrl(v);
    assert.is(url, s3VaultUrl(v.spec.s3!));
    const pods = await storeFromUrl(url);
    assert.is(pods.location, `s3://bkt/${want} at https://s3.example`, `pods read ${url} as ${pods.location}`);
    assert.is((op as { target: { prefix: string } }).target.prefix, want);
    assert.ok(schemaAccepts(prefix), prefix);
  }
});

test('R11: prefixes that used to split the two readings are refused by the schema, the operator and the URL parser', async () => {
  for (const prefix of ['team#1', 'a%2Fb', 'q?endpoint=http://10.0.0.1:9000', '100%', 'a/../b', './a', 'a//b', 'sp ace']) {
    assert.not.ok(schemaAccepts(prefix), `schema accepted ${prefix}`);
    assert.throws(() => s3Prefix(prefix), /bad S3 prefix/);
    assert.throws(() => s3VaultUrl({ bucket: 'bkt', prefix }), /bad S3 prefix/);
    const op = await s3Target(vault(prefix), secrets, '');
    assert.not.ok(op.ok, `operator accepted ${prefix}`);
  }
  for (const url of ['s3://bkt/100%', 's3://bkt/a%2F..%2Fb', 's3://bkt/a%23b']) {
    await storeFromUrl(url).then(
      () => assert.unreachable(`accepted ${url}`),
      (err: Error) => assert.match(err.message, /bad vault URL/),
    );
  }
});

test.run();
