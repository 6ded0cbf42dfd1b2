import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecoveryPointStatus } from '../api/recoverypoint.ts';
import type { BackupVaultObject, RecoveryPointObject } from '../api/types.ts';
import type { FinalizerApi } from '../runtime/finalizers.ts';
import type { StatusApi } from '../runtime/status.ts';
import type { ForgetReport } from '../vault/forget.ts';
import type { DiskBackup } from '../vaults/maintenance.ts';
import { RecoveryPointController } from './recoverypoint.ts';

const NOW = Date.parse('2026-11-27T03:00:00Z');
const vaultObj = { apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace: 'ns' }, spec: {} } as unknown as BackupVaultObject;

function point(o: { deleting?: boolean; finalizer?: boolean; annotations?: Record<string, string> } = {}): RecoveryPointObject {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint',
    metadata: {
      name: 'p', namespace: 'ns', uid: 'u',
      ...(o.deleting ?? true ? { deletionTimestamp: new Date(NOW) } : {}),
      ...(o.finalizer ?? true ? { finalizers: ['tresor.io/vault-data'] } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: { vaultRef: { name: 'v' }, vmUID: 'u', disks: [{ name: 'root', vaultDiskId: 'ns.u.root', manifestId: 'b1' }, { name: 'data', vaultDiskId: 'ns.u.data', manifestId: 'b2' }] },
  } as unknown as RecoveryPointObject;
}

interface Harness {
  ctl: RecoveryPointController;
  forgets: DiskBackup[][];
  released: string[][];
  events: string[];
  status: { value: RecoveryPointStatus | undefined };
  gcs: number;
}

function harness(o: { reports?: (d: DiskBackup) => ForgetReport; fail?: string; vault?: boolean; nsDeleting?: boolean; restores?: string[] } = {}): Harness {
  const h: Harness = { forgets: [], released: [], events: [], status: { value: undefined }, gcs: 0 } as unknown as Harness;
  let finalizers = ['tresor.io/vault-data', 'other'];
  const fin: FinalizerApi = {
    read: async () => ({ resourceVersion: '1', finalizers, deleting: true }),
    patchFinalizers: async (_r, _rv, f) => {
      finalizers = [...f];
      h.released.push(finalizers);
    },
  };
  const status: StatusApi<RecoveryPointStatus> = {
    read: async () => ({ resourceVersion: '1', generation: 1, status: h.status.value }),
    patchStatus: async (_r, _rv, patch) => {
      h.status.value = JSON.parse(JSON.stringify({ ...h.status.value, ...(patch as { status: RecoveryPointStatus }).status }));
    },
  };
  h.ctl = new RecoveryPointController({
    vault: () => (o.vault === false ? undefined : vaultObj),
    namespaceDeleting: async () => o.nsDeleting ?? false,
    forget: async (_v, disks) => {
      h.forgets.push([...disks]);
      if (o.fail) throw new Error(o.fail);
      return disks.map((d) => o.reports?.(d) ?? { ...d, outcome: 'forgotten', reason: 'ok' });
    },
    onForgotten: () => void h.gcs++,
    restoresOf: () => o.restores ?? [],
    finalizers: fin, status,
    events: { normal: async (_o, r, m) => void h.events.push(`Normal ${r} ${m}`), warning: async (_o, r, m) => void h.events.push(`Warning ${r} ${m}`) },
    now: () => NOW,
  });
  return h;
}

const ctx = { key: 'ns/p', signal: new AbortController().signal, retries: 0 };

test('deleting a point forgets every disk backup, then releases only our finalizer and asks for GC', async () => {
  const h = harness();
  assert.equal(await h.ctl.reconcile(point(), ctx), { kind: 'done' });
  assert.equal(h.forgets, [[{ diskId: 'ns.u.root', backupId: 'b1' }, { diskId: 'ns.u.data', backupId: 'b2' }]]);
  assert.equal(h.released, [['other']]);
  assert.is(h.gcs, 1);
  assert.match(h.events[0]!, /^Normal VaultDataForgotten forgot 2 of 2/);
});

test('a live point, or one without our finalizer (recorded before it existed), is left alone', async () => {
  const h = harness();
  await h.ctl.reconcile(point({ deleting: false }), ctx);
  await h.ctl.reconcile(point({ finalizer: false }), ctx);
  assert.equal([h.forgets, h.released], [[], []]);
});

test('the retention lock keeps the finalizer, says until when on a condition and an Event, and retries then', async () => {
  const until = new Date(NOW + 3_600_000).toISOString();
  const h = harness({ reports: (d) => ({ ...d, outcome: 'locked', lockedUntil: until, reason: 'lock of 7 day(s)' }) });
  const out = await h.ctl.reconcile(point(), ctx);
  assert.equal(out, { kind: 'requeue', afterMs: 3_601_000 });
  assert.equal(h.released, []);
  const c = h.status.value?.conditions?.find((x) => x.type === 'VaultDataForgotten');
  assert.equal([c?.status, c?.reason], ['False', 'RetentionLocked']);
  assert.match(c?.message ?? '', new RegExp(`until ${until}`));
  assert.match(c?.message ?? '', /tresor.io\/forget-vault-data="false"/);
  assert.match(h.events[0]!, /^Warning VaultDataRetained/);
  await h.ctl.reconcile(point(), ctx);
  assert.is(h.events.length, 1, 'the same reason was announced twice');
});

test('an unreachable vault keeps the finalizer and retries; a backup in flight too', async () => {
  const h = harness({ fail: 'connect ECONNREFUSED' });
  assert.equal(await h.ctl.reconcile(point(), ctx), { kind: 'requeue', afterMs: 30_000 });
  assert.equal(h.released, []);
  assert.is(h.status.value?.conditions?.[0]?.reason, 'VaultUnreachable');
  const b = harness({ reports: (d) => ({ ...d, outcome: d.diskId === 'ns.u.root' ? 'deferred' : 'forgotten', reason: 'a backup of disk ns.u.root is in flight' }) });
  assert.equal(await b.ctl.reconcile(point(), ctx), { kind: 'requeue', afterMs: 30_000 });
  assert.is(b.status.value?.conditions?.[0]?.reason, 'BackupInFlight');
  assert.is(b.gcs, 0);
});

test('a restore reading from the point holds the forget until it ended', async () => {
  const h = harness({ restores: ['r1'] });
  assert.equal(await h.ctl.reconcile(point(), ctx), { kind: 'requeue', afterMs: 30_000 });
  assert.equal([h.forgets, h.released], [[], []]);
  assert.is(h.status.value?.conditions?.[0]?.reason, 'RestoreInProgress');
  assert.match(h.status.value?.conditions?.[0]?.message ?? '', /r1/);
});

test('the escape hatch, a namespace being deleted and a missing vault release without touching the vault', async () => {
  const hatch = harness();
  await hatch.ctl.reconcile(point({ annotations: { 'tresor.io/forget-vault-data': 'false' } }), ctx);
  const ns = harness({ nsDeleting: true });
  await ns.ctl.reconcile(point(), ctx);
  const gone = harness({ vault: false });
  await gone.ctl.reconcile(point(), ctx);
  for (const [h, why] of [[hatch, /forget-vault-data/], [ns, /namespace ns is being deleted/], [gone, /BackupVault v does not exist/]] as const) {
    assert.equal(h.forgets, []);
    assert.equal(h.released, [['other']]);
    assert.match(h.events[0]!, /^Warning VaultDataKept/);
    assert.match(h.events[0]!, why);
  }
});

test('a point naming another namespace\'s (or VM\'s) vault data is released without forgetting anything', async () => {
  const forged = point();
  (forged.spec.disks[1] as { vaultDiskId: string }).vaultDiskId = 'team-b.u.data';
  const h = harness();
  await h.ctl.reconcile(forged, ctx);
  assert.equal(h.forgets, [], 'nothing forgotten in the vault');
  assert.equal(h.released, [['other']]);
  assert.match(h.events[0]!, /^Warning VaultDataKept.*disk\(s\) data name vault data that is not this point's VM's in namespace ns \(ForeignVaultData\)/);
});

test.run();
