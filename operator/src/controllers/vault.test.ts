import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupVaultStatus } from '../api/backupvault.ts';
import type { BackupVaultObject } from '../api/types.ts';
import type { StatusApi } from '../runtime/status.ts';
import type { VaultCheck } from '../vaults/probe.ts';
import { VaultController } from './vault.ts';

function harness(checks: VaultCheck[]): { ctl: VaultController; store: { status: BackupVaultStatus | undefined }; events: string[]; calls: { n: number }; clock: { ms: number }; points: { n: number } } {
  const store: { status: BackupVaultStatus | undefined } = { status: undefined };
  const events: string[] = [];
  const calls = { n: 0 };
  const clock = { ms: Date.parse('2026-11-27T03:00:00Z') };
  const points = { n: 0 };
  const status: StatusApi<BackupVaultStatus> = {
    read: async () => ({ resourceVersion: '1', generation: 3, status: store.status }),
    patchStatus: async (_r, _rv, patch) => {
      store.status = JSON.parse(JSON.stringify({ ...store.status, ...(patch as { status: BackupVaultStatus }).status }));
    },
  };
  const ctl = new VaultController({
    check: async () => checks[Math.min(calls.n++, checks.length - 1)]!,
    status,
    countPoints: () => points.n,
    events: { normal: async (_o, r, m) => void events.push(`Normal ${r} ${m}`), warning: async (_o, r, m) => void events.push(`Warning ${r} ${m}`) },
    now: () => clock.ms,
  });
  return { ctl, store, events, calls, clock, points };
}

const vault = (generation = 3, annotations?: Record<string, string>): BackupVaultObject =>
  ({ apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace: 'ns', uid: 'u1', generation, ...(annotations ? { annotations } : {}) }, spec: {} } as unknown as BackupVaultObject);
const ctx = { key: 'ns/v', signal: new AbortController().signal, retries: 0 };
const ready: VaultCheck = { status: 'True', reason: 'VaultReady', message: 'ok', backend: 's3://b/p', reached: true, repositoryId: 'id1', formatVersion: 1 };
const wrong: VaultCheck = { status: 'False', reason: 'WrongKey', message: 'restore the original key', backend: 's3://b/p', reached: true, repositoryId: 'id1', formatVersion: 1 };
const noSecret: VaultCheck = { status: 'False', reason: 'KeySecretMissing', message: 'create Secret ns/key', backend: 's3://b/p', reached: false };

test('a check writes Ready with reason, message, generation, backend, id and lastCheckedTime', async () => {
  const h = harness([ready]);
  const out = await h.ctl.reconcile(vault(), ctx);
  const c = h.store.status?.conditions?.[0];
  assert.equal([c?.type, c?.status, c?.reason, c?.message, c?.observedGeneration], ['Ready', 'True', 'VaultReady', 'ok', 3]);
  assert.equal([h.store.status?.backend, h.store.status?.repositoryId, h.store.status?.formatVersion, h.store.status?.lastCheckedTime], ['s3://b/p', 'id1', 1, '2026-11-27T03:00:00Z']);
  assert.equal(out, { kind: 'requeue', afterMs: 5 * 60_000 });
  assert.equal(h.events, ['Normal VaultReady ok']);
});

test('the status write coming back as an event does not check again; time, a new generation or a check request do', async () => {
  const h = harness([ready, ready, ready, ready]);
  await h.ctl.reconcile(vault(), ctx);
  h.clock.ms += 60_000;
  const again = await h.ctl.reconcile(vault(), ctx);
  assert.is(h.calls.n, 1);
  assert.equal(again, { kind: 'requeue', afterMs: 4 * 60_000 });
  h.points.n = 3;
  await h.ctl.reconcile(vault(), ctx);
  assert.is(h.calls.n, 1, 'a new recovery point refreshes the count without a check');
  assert.is(h.store.status?.recoveryPoints, 3);
  assert.is(h.store.status?.lastCheckedTime, '2026-11-27T03:00:00Z');
  await h.ctl.reconcile(vault(4), ctx);
  assert.is(h.calls.n, 2);
  await h.ctl.reconcile(vault(4, { 'tresor.io/check-requested': 'now' }), ctx);
  assert.is(h.calls.n, 3);
  h.clock.ms += 5 * 60_000;
  await h.ctl.reconcile(vault(4, { 'tresor.io/check-requested': 'now' }), ctx);
  assert.is(h.calls.n, 4);
  assert.is(h.events.length, 1, 'no event while nothing changes');
});

test('a vault that is not Ready is checked often, warns once per reason, and recovers', async () => {
  const h = harness([noSecret, noSecret, wrong, ready]);
  const out = await h.ctl.reconcile(vault(), ctx);
  assert.equal(out, { kind: 'requeue', afterMs: 30_000 });
  assert.is(h.store.status?.lastCheckedTime, undefined, 'not reached: no lastCheckedTime');
  const firstTransition = h.store.status?.conditions?.[0]?.lastTransitionTime;
  for (let i = 0; i < 3; i++) {
    h.clock.ms += 30_000;
    await h.ctl.reconcile({ ...vault(), status: h.store.status } as BackupVaultObject, ctx);
  }
  assert.equal(h.events, ['Warning KeySecretMissing create Secret ns/key', 'Warning WrongKey restore the original key', 'Normal VaultReady ok']);
  const c = h.store.status?.conditions?.[0];
  assert.equal([c?.status, c?.reason], ['True', 'VaultReady']);
  assert.is.not(c?.lastTransitionTime, firstTransition);
});

test.run();
