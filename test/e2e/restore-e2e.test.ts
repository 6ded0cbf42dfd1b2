// Restores end to end, with nothing faked: the real apiserver, Postgres (DBOS), the versitygw S3
// server, the local node agent as kubelet + CSI driver + KubeVirt, and the operator's own controllers,
// workflows, transfer and restore pods. A two-disk VM (one Block, one Filesystem disk) with random
// bytes is backed up, then changed; a VirtualMachineRestore to a new VM brings back the backup-time
// bytes into new PVCs (sha256), the VM is created from the captured spec without the original's MAC
// and firmware UUID, and nothing is left behind. Bad inputs fail with their reason; deleting an
// in-flight restore removes what it created.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecoveryPointObject, VirtualMachineRestoreObject } from '../../operator/src/api/types.ts';
import { loadConfig } from '../../operator/src/operator/config.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator/run.ts';
import { eventually } from '../harness.ts';
import { decodeProgress, PROGRESS_ANNOTATION, progressEventName } from '../../operator/src/backup/progress.ts';
import { restorePodName } from '../../operator/src/restore/specs.ts';
import { backup, core, createVm, custom, type Ctx, diskFile, events, kc, KV, operatorEnv, setupEnv, sha, teardownEnv, TRESOR, waitRunning, writeAt } from './backup-env.ts';

const run = { stop: new AbortController(), operator: undefined as RunningOperator | undefined };
const t = suite<Ctx>('restores end to end (node agent, apiserver, Postgres, S3)');
const SIZE = 8 * 1024 * 1024;
const MAC = '02:00:00:aa:bb:cc';
const FW_UUID = '5d307ca9-b3ef-428c-8861-06e72d69f223';

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('restore-e2e'));
  run.operator = await startOperator(loadConfig(operatorEnv(ctx, `e2e-${ctx.node}`)), run.stop.signal, kc);
});

t.after(async (ctx) => {
  run.stop.abort();
  await run.operator?.exited.catch(() => undefined);
  await teardownEnv(ctx);
});

/** What the backup leaves for the restores: the recovery point and each disk's sha256 at backup time. */
const src = { rp: '', before: { root: '', data: '' }, after: { root: '', data: '' } };

async function createRestore(ctx: Ctx, name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore', metadata: { name }, spec,
  } });
}

const readRestore = async (ctx: Ctx, name: string): Promise<VirtualMachineRestoreObject> =>
  (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name })) as VirtualMachineRestoreObject;

async function waitRestore(ctx: Ctx, name: string, timeoutMs = 240_000): Promise<VirtualMachineRestoreObject> {
  return eventually(`restore ${name} to finish`, async () => {
    const r = await readRestore(ctx, name);
    return r.status?.phase === 'Succeeded' || r.status?.phase === 'Failed' ? r : undefined;
  }, timeoutMs);
}

const cond = (r: VirtualMachineRestoreObject, type: string): string | undefined => {
  const c = r.status?.conditions?.find((x) => x.type === type);
  return c ? `${c.status}/${c.reason}` : undefined;
};

type Domain = { firmware?: { uuid?: string }; devices: { interfaces: Array<{ macAddress?: string }> } };
type Vm = { metadata: { annotations?: Record<string, string> }; spec: { runStrategy?: string; running?: boolean; template: { spec: { volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>; domain: Domain } } } };
const readVm = async (ctx: Ctx, name: string): Promise<Vm | undefined> =>
  (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ctx.ns, name }).catch(() => undefined)) as Vm | undefined;

async function children(ctx: Ctx, restore: string): Promise<string[]> {
  const sel = `tresor.io/restore=${restore}`;
  const pods = (await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: sel })).items.map((p) => `pod/${p.metadata?.name}`);
  const pvcs = (await core.listNamespacedPersistentVolumeClaim({ namespace: ctx.ns, labelSelector: sel })).items.map((p) => `pvc/${p.metadata?.name}`);
  const vms = ((await custom.listNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ctx.ns, labelSelector: sel })) as { items: Array<{ metadata: { name: string } }> }).items.map((v) => `vm/${v.metadata.name}`);
  return [...pods, ...pvcs, ...vms];
}

t('a two-disk VM (Block + Filesystem) with random bytes is backed up, then changed', async (ctx) => {
  await createVm(ctx, 'src', { disks: [{ name: 'root', mode: 'Filesystem', size: SIZE }, { name: 'data', mode: 'Block', size: SIZE }] });
  // An identity the copy must not share: a fixed MAC address and firmware UUID.
  await custom.patchNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ctx.ns, name: 'src', body: { spec: { template: { spec: { domain: {
    firmware: { uuid: FW_UUID }, devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }, { name: 'data', disk: { bus: 'virtio' } }], interfaces: [{ name: 'default', masquerade: {}, macAddress: MAC }] },
  } } } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  await waitRunning(ctx, 'src');
  const rootFile = await diskFile(ctx, 'src-root', 'Filesystem');
  const dataFile = await diskFile(ctx, 'src-data', 'Block');
  writeAt(rootFile, 0, randomBytes(SIZE));
  writeAt(dataFile, 0, randomBytes(SIZE));
  src.before = { root: sha(readFileSync(rootFile)), data: sha(readFileSync(dataFile)) };
  const j = await backup(ctx, 'src-1', { vmName: 'src', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  src.rp = j.status?.recoveryPointName ?? '';
  const rp = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: src.rp })) as RecoveryPointObject;
  assert.equal(rp.spec.disks.map((d) => `${d.name}:${d.volumeMode}`).sort(), ['data:Block', 'root:Filesystem']);
  // Changed after the backup: a restore must bring back the backup-time bytes, not these.
  writeAt(rootFile, 0, randomBytes(SIZE));
  writeAt(dataFile, 0, randomBytes(SIZE));
  src.after = { root: sha(readFileSync(rootFile)), data: sha(readFileSync(dataFile)) };
  assert.is.not(src.after.data, src.before.data);
});

t('restore to a new VM: Succeeded, new PVCs hold the backup-time bytes, VM without the old identity, no pods left', async (ctx) => {
  await createRestore(ctx, 'copy', { recoveryPointRef: { name: src.rp }, target: { newVMName: 'src-copy' }, startVM: true });
  const r = await waitRestore(ctx, 'copy');
  assert.is(r.status?.phase, 'Succeeded', JSON.stringify(r.status));
  for (const c of ['DisksRestored', 'VirtualMachineReady', 'Succeeded']) assert.is(cond(r, c)?.split('/')[0], 'True', `${c}: ${cond(r, c)}`);
  assert.is(r.status?.targetVMName, 'src-copy');
  assert.is(r.status?.progress?.percent, 100);
  assert.equal(r.status?.disks?.map((d) => `${d.name}:${d.pvcName}:${d.phase}`).sort(), ['data:src-copy-data:Succeeded', 'root:src-copy-root:Succeeded']);

  const vm = await readVm(ctx, 'src-copy');
  assert.ok(vm, 'the new VM exists');
  assert.equal(vm.spec.template.spec.volumes.map((v) => `${v.name}:${v.persistentVolumeClaim?.claimName}`).sort(), ['data:src-copy-data', 'root:src-copy-root']);
  assert.is(vm.spec.runStrategy, 'Always');
  assert.is(vm.spec.template.spec.domain.firmware?.uuid, undefined, 'firmware UUID stripped');
  assert.is(vm.spec.template.spec.domain.devices.interfaces[0]?.macAddress, undefined, 'MAC address stripped');
  const orig = await readVm(ctx, 'src');
  assert.is(orig?.spec.template.spec.domain.devices.interfaces[0]?.macAddress, MAC, 'the original VM is untouched');

  await assertRestoredDisks(ctx);
  await assertProgressEvents(ctx);
  await waitRunning(ctx, 'src-copy');
  await eventually('restore pods gone', async () => ((await children(ctx, 'copy')).some((c) => c.startsWith('pod/')) ? undefined : true), 60_000);
  const ev = await events(ctx, 'copy');
  for (const reason of ['RestoreStarted', 'DiskRestored', 'VirtualMachineCreated', 'RestoreSucceeded']) assert.ok(ev.some((e) => e.reason === reason), `event ${reason}: ${ev.map((e) => e.reason).join(',')}`);
  await assertDeleteKeepsResult(ctx);
});

/** Each restore pod kept its progress Event (the operator relays it onto the status while the pod runs). */
async function assertProgressEvents(ctx: Ctx): Promise<void> {
  for (const disk of ['root', 'data']) {
    const ev = await core.readNamespacedEvent({ namespace: ctx.ns, name: progressEventName(restorePodName('copy', disk, 0)) });
    const p = decodeProgress(ev.metadata?.annotations?.[PROGRESS_ANNOTATION]);
    assert.ok(p && p.bytesTotal > 0 && p.bytesDone === p.bytesTotal, `${disk}: the restore pod's last progress sample: ${JSON.stringify(p)}`);
  }
}

async function assertRestoredDisks(ctx: Ctx): Promise<void> {
  for (const [disk, mode] of [['root', 'Filesystem'], ['data', 'Block']] as const) {
    const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ctx.ns, name: `src-copy-${disk}` });
    assert.is(pvc.spec?.volumeMode, mode);
    assert.equal(pvc.metadata?.ownerReferences ?? [], [], `${disk}: the PVC no longer belongs to the restore`);
    const file = await diskFile(ctx, `src-copy-${disk}`, mode);
    assert.is(sha(readFileSync(file)), src.before[disk], `${disk} restored byte for byte`);
  }
}

/** Deleting a finished restore keeps what it restored. */
async function assertDeleteKeepsResult(ctx: Ctx): Promise<void> {
  await custom.deleteNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name: 'copy' });
  await eventually('the restore to be gone', async () => readRestore(ctx, 'copy').then(() => undefined, () => true), 60_000);
  assert.ok(await readVm(ctx, 'src-copy'), 'the VM outlives its restore');
  for (const d of ['root', 'data']) assert.ok(await core.readNamespacedPersistentVolumeClaim({ namespace: ctx.ns, name: `src-copy-${d}` }), `PVC ${d} outlives its restore`);
}

t('a subset of disks, halted: only those PVCs, the other disk left out of the VM', async (ctx) => {
  await createRestore(ctx, 'part', { recoveryPointRef: { name: src.rp }, target: { newVMName: 'src-part' }, disks: ['data'] });
  const r = await waitRestore(ctx, 'part');
  assert.is(r.status?.phase, 'Succeeded', JSON.stringify(r.status));
  assert.match(r.status?.conditions?.find((c) => c.type === 'VirtualMachineReady')?.message ?? '', /left out of it: root/);
  const vm = await readVm(ctx, 'src-part');
  assert.is(vm?.spec.runStrategy, 'Halted');
  assert.equal(vm?.spec.template.spec.volumes.map((v) => v.name), ['data']);
  assert.is(sha(readFileSync(await diskFile(ctx, 'src-part-data', 'Block'))), src.before.data);
  await core.readNamespacedPersistentVolumeClaim({ namespace: ctx.ns, name: 'src-part-root' }).then(() => assert.unreachable('root was not selected'), () => undefined);
});

t('bad inputs fail with their reason and leave nothing behind', async (ctx) => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['bad-exists', { recoveryPointRef: { name: src.rp }, target: { newVMName: 'src' } }, 'TargetExists', /VirtualMachine src already exists/],
    ['bad-disk', { recoveryPointRef: { name: src.rp }, target: { newVMName: 'src-x' }, disks: ['root', 'nope'] }, 'DiskNotFound', /nope.*its disks are/],
    ['bad-rp', { recoveryPointRef: { name: 'no-such-point' }, target: { newVMName: 'src-y' } }, 'RecoveryPointNotFound', /no-such-point/],
  ];
  for (const [name, spec] of cases) await createRestore(ctx, name, spec);
  for (const [name, , reason, message] of cases) {
    const r = await waitRestore(ctx, name);
    assert.is(r.status?.phase, 'Failed', name);
    assert.is(cond(r, 'Succeeded'), `False/${reason}`, name);
    assert.match(r.status?.conditions?.find((c) => c.type === 'Succeeded')?.message ?? '', message, name);
    assert.equal(await children(ctx, name), [], `${name} leaves nothing`);
    const ev = await eventually(`${name}: a RestoreFailed warning`, async () => (await events(ctx, name)).find((e) => e.type === 'Warning' && e.reason === 'RestoreFailed'));
    assert.match(ev.message ?? '', new RegExp(reason));
  }
  assert.ok(await readVm(ctx, 'src'), 'the existing VM is untouched');
});

t('in place: the VM is stopped, gets new PVCs with the backup-time bytes, keeps the old PVCs, and runs again', async (ctx) => {
  await createRestore(ctx, 'undo', { recoveryPointRef: { name: src.rp }, target: { inPlace: true }, startVM: true });
  const r = await waitRestore(ctx, 'undo');
  assert.is(r.status?.phase, 'Succeeded', JSON.stringify(r.status));
  assert.is(cond(r, 'VirtualMachineReady'), 'True/VolumesSwapped');
  assert.match(r.status?.conditions?.find((c) => c.type === 'VirtualMachineReady')?.message ?? '', /was src-root, kept/);
  const suffix = (r.metadata.uid ?? '').replace(/-/g, '').slice(0, 8);
  const vm = await readVm(ctx, 'src');
  assert.equal(vm?.spec.template.spec.volumes.map((v) => `${v.name}:${v.persistentVolumeClaim?.claimName}`).sort(), [`data:src-data-${suffix}`, `root:src-root-${suffix}`]);
  assert.is(vm?.spec.runStrategy, 'Always');
  for (const [disk, mode] of [['root', 'Filesystem'], ['data', 'Block']] as const) {
    assert.is(sha(readFileSync(await diskFile(ctx, `src-${disk}-${suffix}`, mode))), src.before[disk], `${disk}: the new PVC holds the backup-time bytes`);
    assert.is(sha(readFileSync(await diskFile(ctx, `src-${disk}`, mode))), src.after[disk], `${disk}: the replaced PVC is kept as it was`);
  }
  await waitRunning(ctx, 'src');
  const vmi = (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachineinstances', namespace: ctx.ns, name: 'src' })) as { spec: { volumes: Array<{ persistentVolumeClaim?: { claimName: string } }> } };
  assert.equal(vmi.spec.volumes.map((v) => v.persistentVolumeClaim?.claimName).sort(), [`src-data-${suffix}`, `src-root-${suffix}`], 'the running VMI uses the restored disks');
  assert.ok((await events(ctx, 'undo')).some((e) => e.reason === 'VolumesSwapped'));
  await eventually('restore pods gone', async () => ((await children(ctx, 'undo')).some((c) => c.startsWith('pod/')) ? undefined : true), 60_000);
});

t('a backup missing from the vault: RestoreFailed naming the disk and the mover\'s error, after every attempt, nothing left', async (ctx) => {
  const rp = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: src.rp })) as RecoveryPointObject;
  const spec = { ...rp.spec, disks: rp.spec.disks.filter((d) => d.name === 'data').map((d) => ({ ...d, manifestId: '20260101T000000Z-deadbeef' })) };
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, body: { apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint', metadata: { name: 'broken' }, spec } });
  await custom.patchNamespacedCustomObjectStatus({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: 'broken', body: { status: {
    conditions: [{ type: 'Available', status: 'True', reason: 'InVault', message: 'claimed', lastTransitionTime: new Date().toISOString().slice(0, 19) + 'Z' }],
  } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  await createRestore(ctx, 'from-broken', { recoveryPointRef: { name: 'broken' }, target: { newVMName: 'src-broken' } });
  const r = await waitRestore(ctx, 'from-broken');
  assert.is(r.status?.phase, 'Failed', JSON.stringify(r.status));
  assert.is(cond(r, 'Succeeded'), 'False/RestoreFailed');
  const message = r.status?.conditions?.find((c) => c.type === 'Succeeded')?.message ?? '';
  assert.match(message, /data: restore pod from-broken-data-restore-2 failed .*20260101T000000Z-deadbeef.*not found.*\(after 3 attempt\(s\)\)/s);
  assert.is(r.status?.disks?.find((d) => d.name === 'data')?.phase, 'Failed');
  assert.equal(await children(ctx, 'from-broken'), [], 'no PVC, pod or VM left');
  assert.is(await readVm(ctx, 'src-broken'), undefined);
});

t('deleting an in-flight in-place restore removes its PVCs and puts the VM back as it ran, on its disks', async (ctx) => {
  const volumesBefore = (await readVm(ctx, 'src'))?.spec.template.spec.volumes;
  await createRestore(ctx, 'undo-gone', { recoveryPointRef: { name: src.rp }, target: { inPlace: true }, storageClassName: 'not-provisioned' });
  await eventually('restore pods of undo-gone', async () => ((await children(ctx, 'undo-gone')).filter((c) => c.startsWith('pod/')).length === 2 ? true : undefined), 120_000);
  assert.is((await readVm(ctx, 'src'))?.spec.runStrategy, 'Halted', 'the VM was stopped for the restore');
  await custom.deleteNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name: 'undo-gone' });
  await eventually('the restore to be gone', async () => readRestore(ctx, 'undo-gone').then(() => undefined, () => true), 120_000);
  await eventually('its children to be gone', async () => ((await children(ctx, 'undo-gone')).length === 0 ? true : undefined), 60_000);
  const vm = await readVm(ctx, 'src');
  assert.is(vm?.spec.runStrategy, 'Always', 'the VM runs again as before');
  assert.equal(vm?.spec.template.spec.volumes, volumesBefore, 'on the disks it had');
  await waitRunning(ctx, 'src');
});

t('deleting an in-flight restore cancels it and removes its pods, PVCs and VM', async (ctx) => {
  // A storage class nobody provisions keeps the new PVCs Pending, so the restore pods wait: in flight for sure.
  await createRestore(ctx, 'gone', { recoveryPointRef: { name: src.rp }, target: { newVMName: 'src-gone' }, storageClassName: 'not-provisioned', startVM: true });
  await eventually('restore pods of gone', async () => ((await children(ctx, 'gone')).filter((c) => c.startsWith('pod/')).length === 2 ? true : undefined), 120_000);
  const r = await readRestore(ctx, 'gone');
  assert.is(r.status?.phase, 'Running', JSON.stringify(r.status));
  assert.equal((await children(ctx, 'gone')).filter((c) => c.startsWith('pvc/')).sort(), ['pvc/src-gone-data', 'pvc/src-gone-root']);
  await custom.deleteNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name: 'gone' });
  await eventually('the restore to be gone', async () => readRestore(ctx, 'gone').then(() => undefined, () => true), 120_000);
  let left: string[] = [];
  await eventually('its children to be gone', async () => {
    left = await children(ctx, 'gone');
    return left.length === 0 ? true : undefined;
  }, 60_000).catch((err: unknown) => {
    throw new Error(`still there: ${left.join(', ')}`, { cause: err });
  });
  assert.is(await readVm(ctx, 'src-gone'), undefined);
});

t.run();
