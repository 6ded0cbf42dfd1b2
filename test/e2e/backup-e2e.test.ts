// Backup jobs end to end, with nothing faked: the real apiserver, Postgres (DBOS), the versitygw S3
// server, the local node agent as kubelet + CSI driver + KubeVirt, and the operator's own controller,
// workflows, snapshot pod and transfer pods. A running two-disk VM is backed up, its disks restored
// from the vault byte for byte, then 1% of one disk changes and the next backup moves about 1%.
// Then the consistency rules: no guest agent, a failing freeze, a policy demanding more, a stopped VM.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecoveryPointObject, VirtualMachineBackupObject } from '../../operator/src/api/types.ts';
import { loadConfig } from '../../operator/src/operator/config.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator/run.ts';
import { eventually } from '../harness.ts';
import {
  backup, BLOCK, cond, createVm, custom, type Ctx, DISK, diskFile, diskOf, events, kc, KV, noLeftovers, operatorEnv, restore, setupEnv, sha,
  teardownEnv, TRESOR, waitRunning, writeAt,
} from './backup-env.ts';

const run = { stop: new AbortController(), operator: undefined as RunningOperator | undefined };
const t = suite<Ctx>('backup jobs end to end (node agent, apiserver, Postgres, S3)');

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('backup-e2e'));
  run.operator = await startOperator(loadConfig(operatorEnv(ctx, `e2e-${ctx.node}`)), run.stop.signal, kc);
});

t.after(async (ctx) => {
  run.stop.abort();
  await run.operator?.exited.catch(() => undefined);
  await teardownEnv(ctx);
});

/** What the first backup leaves for the incremental one. */
const web = { dataFile: '', rp: undefined as RecoveryPointObject | undefined };
const rpDisk = (rp: RecoveryPointObject | undefined, n: string): { vaultDiskId: string; manifestId: string } => {
  const d = rp?.spec.disks.find((x) => x.name === n);
  if (!d) throw new Error(`no disk ${n} in the recovery point`);
  return d;
};

async function recoveryPoint(ctx: Ctx, j: VirtualMachineBackupObject): Promise<RecoveryPointObject> {
  return (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: j.status?.recoveryPointName ?? '?' })) as RecoveryPointObject;
}

function assertSucceededSteps(j: VirtualMachineBackupObject): void {
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  for (const c of ['SnapshotTaken', 'DataTransferred', 'SnapshotDeleted', 'Succeeded']) assert.is(cond(j, c)?.split('/')[0], 'True', `${c}: ${cond(j, c)}`);
}

t('a running VM with two disks: Succeeded, recovery point, nothing left, each disk restores byte for byte', async (ctx) => {
  await createVm(ctx, 'web', { disks: [{ name: 'root', mode: 'Filesystem', size: DISK }, { name: 'data', mode: 'Block', size: DISK }] });
  await waitRunning(ctx, 'web');
  const rootFile = await diskFile(ctx, 'web-root', 'Filesystem');
  web.dataFile = await diskFile(ctx, 'web-data', 'Block');
  writeAt(rootFile, 0, randomBytes(DISK));
  writeAt(web.dataFile, 0, randomBytes(DISK));
  const before = { root: sha(readFileSync(rootFile)), data: sha(readFileSync(web.dataFile)) };

  const j1 = await backup(ctx, 'web-1', { vmName: 'web', vaultRef: { name: 'vault' } });
  assertSucceededSteps(j1);
  assert.is(j1.status?.consistency?.level, 'FileSystemConsistent');
  assert.is(j1.status?.consistency?.reason, 'NoApplicationHooks');
  assert.is(j1.status?.guestAgent?.connected, true);
  for (const d of ['root', 'data']) assert.is(diskOf(j1, d).type, 'Full');

  const rp = await recoveryPoint(ctx, j1);
  web.rp = rp;
  assert.is(rp.spec.consistency, 'FileSystemConsistent');
  assert.is(rp.spec.disks.length, 2);
  assert.ok(rp.spec.vmSpec, 'the VM spec is captured');
  assert.is(rp.status?.conditions?.find((c) => c.type === 'Available')?.status, 'True');
  await noLeftovers(ctx, 'web-1');

  const vmi = (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachineinstances', namespace: ctx.ns, name: 'web' })) as { metadata: { annotations?: Record<string, string> } };
  const freezes = JSON.parse(vmi.metadata.annotations?.['hack.tresor.io/freeze-log'] ?? '[]') as Array<{ thawedBy?: string }>;
  assert.is(freezes.at(-1)?.thawedBy, 'unfreeze', 'the guest was frozen and thawed by the snapshot pod, not by its deadline');

  assert.is(sha(restore(ctx, rpDisk(rp, 'root').vaultDiskId, rpDisk(rp, 'root').manifestId)), before.root, 'root restores byte for byte');
  assert.is(sha(restore(ctx, rpDisk(rp, 'data').vaultDiskId, rpDisk(rp, 'data').manifestId)), before.data, 'data restores byte for byte');
});

t('1% of one disk changed: that disk Incremental with ~1% uploaded, the other uploads nothing', async (ctx) => {
  // Five scattered blocks of 64 KiB: 320 KiB of 32 MiB, just under 1%.
  const changed = 5;
  for (let i = 0; i < changed; i++) writeAt(web.dataFile, (7 + i * 97) * BLOCK, randomBytes(BLOCK));
  const after = sha(readFileSync(web.dataFile));
  const j2 = await backup(ctx, 'web-2', { vmName: 'web', vaultRef: { name: 'vault' } });
  assertSucceededSteps(j2);
  const data = diskOf(j2, 'data');
  const root = diskOf(j2, 'root');
  const up = data.bytesUploaded ?? -1;
  console.log(`incremental: data uploaded ${up} of ${DISK} bytes (${((100 * up) / DISK).toFixed(2)}%), read ${data.bytesRead}; root uploaded ${root.bytesUploaded}`);
  assert.is(data.type, 'Incremental');
  assert.is(data.changeDetection, 'HashCompare');
  assert.is(data.parentManifestId, rpDisk(web.rp, 'data').manifestId);
  assert.ok(up >= changed * BLOCK * 0.9 && up <= DISK * 0.02, `data uploaded ${up}`);
  assert.is(root.type, 'Incremental');
  assert.ok((root.bytesUploaded ?? -1) >= 0 && (root.bytesUploaded ?? BLOCK) < BLOCK, `untouched root uploaded ${root.bytesUploaded}`);
  const rp2 = await recoveryPoint(ctx, j2);
  assert.is(rp2.spec.backupType, 'Incremental');
  assert.is(sha(restore(ctx, rpDisk(rp2, 'data').vaultDiskId, rpDisk(rp2, 'data').manifestId)), after, 'the incremental restores byte for byte');
  await noLeftovers(ctx, 'web-2');
});

t('no guest agent: CrashConsistent with a Warning event', async (ctx) => {
  await createVm(ctx, 'noagent', { disks: [{ name: 'data', mode: 'Block', size: 1 << 20 }], guest: { agent: false } });
  await waitRunning(ctx, 'noagent');
  const j = await backup(ctx, 'noagent-1', { vmName: 'noagent', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  assert.is(j.status?.consistency?.level, 'CrashConsistent');
  assert.is(j.status?.consistency?.reason, 'GuestAgentNotConnected');
  assert.is(j.status?.guestAgent?.connected, false);
  const ev = await eventually('a ConsistencyDegraded warning', async () => (await events(ctx, 'noagent-1')).find((e) => e.type === 'Warning' && e.reason === 'ConsistencyDegraded'));
  assert.match(ev.message ?? '', /CrashConsistent/);
  await noLeftovers(ctx, 'noagent-1');
});

t('a failing freeze: CrashConsistent with the fallback recorded and a Warning', async (ctx) => {
  await createVm(ctx, 'badfreeze', { disks: [{ name: 'data', mode: 'Block', size: 1 << 20 }], guest: { freeze: 'fail' } });
  await waitRunning(ctx, 'badfreeze');
  const j = await backup(ctx, 'badfreeze-1', { vmName: 'badfreeze', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  assert.is(j.status?.consistency?.level, 'CrashConsistent');
  assert.is(j.status?.consistency?.reason, 'FreezeFailed');
  await eventually('a ConsistencyDegraded warning', async () => (await events(ctx, 'badfreeze-1')).find((e) => e.type === 'Warning' && e.reason === 'ConsistencyDegraded'));
});

t('a policy demanding ApplicationConsistent fails the job with ConsistencyNotMet', async (ctx) => {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'strict' },
    spec: { schedule: '0 3 * * *', vmSelector: { matchLabels: { app: 'none' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 3 }, consistency: 'ApplicationConsistent', suspend: true },
  } });
  const j = await backup(ctx, 'strict-1', { vmName: 'noagent', policyRef: { name: 'strict' } });
  assert.is(j.status?.phase, 'Failed');
  assert.is(cond(j, 'Succeeded'), 'False/ConsistencyNotMet');
  assert.is(cond(j, 'SnapshotTaken'), 'False/ConsistencyNotMet', 'the step under way is closed with the reason, not left Pending');
  assert.is(cond(j, 'SnapshotDeleted'), 'True/Completed');
  assert.match(j.status?.conditions?.find((c) => c.type === 'Succeeded')?.message ?? '', /ApplicationConsistent/);
  await noLeftovers(ctx, 'strict-1');
});

t('a stopped VM: FileSystemConsistent (no writes in flight), no freeze attempted', async (ctx) => {
  await createVm(ctx, 'stopped', { disks: [{ name: 'data', mode: 'Block', size: 1 << 20 }], running: false });
  const file = await diskFile(ctx, 'stopped-data', 'Block');
  writeAt(file, 0, randomBytes(1 << 20));
  const j = await backup(ctx, 'stopped-1', { vmName: 'stopped', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  assert.is(j.status?.consistency?.level, 'FileSystemConsistent');
  assert.is(j.status?.consistency?.reason, 'VirtualMachineStopped');
  await noLeftovers(ctx, 'stopped-1');
});

t('instant restore: kept snapshots belong to the recovery point and outlive the job, not the recovery point', async (ctx) => {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'instant' },
    spec: { schedule: '0 3 * * *', vmSelector: { matchLabels: { app: 'none' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 3 }, suspend: true, instantRestore: { keepFor: '1h' } },
  } });
  const j = await backup(ctx, 'stopped-2', { vmName: 'stopped', policyRef: { name: 'instant' } });
  assertSucceededSteps(j);
  assert.match(j.status?.conditions?.find((c) => c.type === 'SnapshotDeleted')?.message ?? '', /kept as the instant-restore tier/);
  const rp = await recoveryPoint(ctx, j);
  assert.is(rp.status?.tier, 'SnapshotAndVault');
  assert.equal(rp.status?.snapshots?.map((s) => s.volumeSnapshotName), ['stopped-2-data']);
  const snap = () => custom.getNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots', namespace: ctx.ns, name: 'stopped-2-data' }) as Promise<{ metadata: { ownerReferences?: Array<{ kind: string; uid: string }> } }>;
  assert.equal((await snap()).metadata.ownerReferences?.map((o) => [o.kind, o.uid]), [['RecoveryPoint', rp.metadata.uid]]);
  await custom.deleteNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, name: 'stopped-2' });
  await eventually('the job to be gone', async () => custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, name: 'stopped-2' }).then(() => undefined, () => true), 60_000);
  await new Promise((r) => setTimeout(r, 3000));
  assert.ok(await snap(), 'the kept snapshot survives its job');
  await custom.deleteNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: 'stopped-2' });
  await eventually('the snapshot to go with its recovery point', async () => snap().then(() => undefined, () => true), 60_000);
});

t.run();
