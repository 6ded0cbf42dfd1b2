// The BackupVault controller against the real apiserver and the real S3 server: a good vault goes Ready
// with its id; a wrong key, a missing bucket, a missing Secret, foreign credentials, an uninitialised
// prefix and an unreachable endpoint each go Ready=False with their own reason and a message naming the
// fix; fixing the Secret turns the vault Ready without touching the vault object.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Kinds } from '../../operator/src/api/constants.ts';
import { installCrds } from '../../operator/src/api/install.ts';
import type { BackupVaultObject } from '../../operator/src/api/types.ts';
import { newVaultController, informer, tresor } from '../../operator/src/operator/policy-wiring.ts';
import { Controller } from '../../operator/src/runtime/controller.ts';
import { coreEventSink, EventRecorder } from '../../operator/src/runtime/events.ts';
import { enqueueOnChange } from '../../operator/src/runtime/manager.ts';
import { storeFromUrl } from '../../operator/src/vault/location.ts';
import { CONFIG_KEY, Vault, VAULT_FORMAT_VERSION } from '../../operator/src/vault/vault.ts';
import { createBucket, createNamespace, deleteBucket, deleteNamespace, eventually, kubeConfig, kubectl, testEnv } from '../harness.ts';

const test = suite('vault readiness');
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const TRESOR = { group: 'tresor.io', version: 'v1alpha1', plural: 'backupvaults' };
const key = randomBytes(32);
const s: { ns: string; bucket: string; stop: AbortController; run?: Promise<unknown>; inf?: { stop(): Promise<void> } } = { ns: '', bucket: '', stop: new AbortController() };

async function createVault(name: string, s3: Record<string, unknown>, keySecret = 'vault-key'): Promise<void> {
  const env = testEnv();
  await custom.createNamespacedCustomObject({ ...TRESOR, namespace: s.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name },
    spec: { s3: { endpoint: env.s3.endpoint, bucket: s.bucket, prefix: 'good', region: env.s3.region, credentialsSecretRef: { name: 's3' }, forcePathStyle: true, ...s3 }, encryption: { keySecretRef: { name: keySecret } } },
  } });
}

async function readyOf(name: string, reason: string): Promise<{ status: string; message: string; vault: BackupVaultObject }> {
  let last = '';
  return eventually(`vault ${name} Ready reason ${reason}`, async () => {
    const v = (await custom.getNamespacedCustomObject({ ...TRESOR, namespace: s.ns, name })) as BackupVaultObject;
    const c = v.status?.conditions?.find((x) => x.type === 'Ready');
    last = `${c?.status}/${c?.reason}: ${c?.message}`;
    return c?.reason === reason ? { status: c.status, message: c.message ?? "", vault: v } : undefined;
  }, 60_000).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last seen ${last}`, { cause: err });
  });
}

async function secret(name: string, data: Record<string, string>): Promise<void> {
  await core.createNamespacedSecret({ namespace: s.ns, body: { metadata: { name }, stringData: data } });
}

test.before(async () => {
  const env = testEnv();
  await installCrds((args) => kubectl(args));
  s.ns = await createNamespace('vault-ready');
  s.bucket = await createBucket('vault-ready');
  await Vault.init(await storeFromUrl(`s3://${s.bucket}/good?endpoint=${encodeURIComponent(env.s3.endpoint)}`), key);
  await secret('vault-key', { key: key.toString('hex') });
  await secret('other-key', { key: randomBytes(32).toString('hex') });
  await secret('s3', { AWS_ACCESS_KEY_ID: env.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: env.s3.secretAccessKey });
  await secret('s3-foreign', { AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'wrong-secret-wrong-secret' });
  const events = new EventRecorder({ sink: coreEventSink(kc), component: 'vault-ready-test' });
  const vaults = informer<BackupVaultObject>({ kc, namespace: s.ns }, tresor('backupvaults', Kinds.BackupVault));
  const ctl = newVaultController({ kc, events, notReadyRecheckMs: 1_000 });
  const controller = new Controller<BackupVaultObject>({ name: 'backupvault', store: vaults, reconcile: ctl.reconcile, workers: 2 });
  enqueueOnChange(vaults, (k) => controller.enqueue(k));
  vaults.start();
  s.inf = vaults;
  await vaults.waitForSync();
  s.run = controller.run(s.stop.signal);
});

test.after(async () => {
  s.stop.abort();
  await s.run;
  await s.inf?.stop();
  if (s.ns && !process.env.E2E_KEEP) await deleteNamespace(s.ns);
  if (s.bucket) await deleteBucket(s.bucket).catch(() => undefined);
});

test('a good vault is Ready with its id, format, backend and check time; an Event says so', async () => {
  await createVault('good', {});
  const r = await readyOf('good', 'VaultReady');
  assert.is(r.status, 'True');
  assert.match(r.vault.status?.repositoryId ?? '', /^[0-9a-f]{32}$/);
  assert.is(r.vault.status?.formatVersion, VAULT_FORMAT_VERSION);
  assert.is(r.vault.status?.backend, `s3://${s.bucket}/good`);
  assert.ok(r.vault.status?.lastCheckedTime);
  assert.is(r.vault.status?.conditions?.[0]?.observedGeneration, r.vault.metadata.generation);
  await eventually('VaultReady event', async () => {
    const ev = await core.listNamespacedEvent({ namespace: s.ns, fieldSelector: 'involvedObject.name=good' });
    return ev.items.some((e) => e.reason === 'VaultReady' && e.type === 'Normal') ? true : undefined;
  });
});

test('a config edited without the key (block size) is VaultConfigNotAuthentic, not Ready', async () => {
  const store = await storeFromUrl(`s3://${s.bucket}/edited?endpoint=${encodeURIComponent(testEnv().s3.endpoint)}`);
  await Vault.init(store, key);
  await store.put(CONFIG_KEY, Buffer.from((await store.get(CONFIG_KEY)).toString().replace('"blockSize": 1048576', '"blockSize": 4096')));
  await createVault('edited', { prefix: 'edited' });
  const r = await readyOf('edited', 'VaultConfigNotAuthentic');
  assert.is(r.status, 'False');
  assert.match(r.message, /someone without the key changed it/);
});

test('a wrong key is WrongKey, not Ready, with a Warning Event', async () => {
  await createVault('wrong-key', {}, 'other-key');
  const r = await readyOf('wrong-key', 'WrongKey');
  assert.is(r.status, 'False');
  assert.match(r.message, /not a master key of vault [0-9a-f]+: restore the original key/);
  await eventually('WrongKey warning', async () => {
    const ev = await core.listNamespacedEvent({ namespace: s.ns, fieldSelector: 'involvedObject.name=wrong-key' });
    return ev.items.some((e) => e.reason === 'WrongKey' && e.type === 'Warning') ? true : undefined;
  });
});

test('a missing bucket is BucketNotFound and names the bucket', async () => {
  await createVault('no-bucket', { bucket: `${s.bucket}-missing` });
  const r = await readyOf('no-bucket', 'BucketNotFound');
  assert.is(r.status, 'False');
  assert.match(r.message, new RegExp(`bucket ${s.bucket}-missing does not exist`));
});

test('an empty prefix is VaultUninitialized and says to run tresor vault init', async () => {
  await createVault('empty-prefix', { prefix: 'nothing-here' });
  const r = await readyOf('empty-prefix', 'VaultUninitialized');
  assert.match(r.message, /tresor vault init/);
});

test('credentials the server does not know are CredentialsRejected', async () => {
  await createVault('foreign', { credentialsSecretRef: { name: 's3-foreign' } });
  const r = await readyOf('foreign', 'CredentialsRejected');
  assert.match(r.message, /credentialsSecretRef/);
});

test('an endpoint nobody listens on is VaultUnreachable', async () => {
  await createVault('nowhere', { endpoint: 'http://127.0.0.1:9' });
  const r = await readyOf('nowhere', 'VaultUnreachable');
  assert.match(r.message, /http:\/\/127\.0\.0\.1:9/);
});

test('a missing key Secret is KeySecretMissing; creating it makes the vault Ready without touching the vault', async () => {
  await createVault('late-key', {}, 'late-key');
  const r = await readyOf('late-key', 'KeySecretMissing');
  assert.is(r.status, 'False');
  assert.match(r.message, new RegExp(`Secret ${s.ns}/late-key .*does not exist`));
  await secret('late-key', { key: key.toString('hex') });
  const ok = await readyOf('late-key', 'VaultReady');
  assert.is(ok.status, 'True');
});

test('a missing credentials Secret is CredentialsMissing', async () => {
  await createVault('no-creds', { credentialsSecretRef: { name: 'absent' } });
  const r = await readyOf('no-creds', 'CredentialsMissing');
  assert.match(r.message, /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
});

test.run();
