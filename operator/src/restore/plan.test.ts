import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecoveryPointObject, VirtualMachineRestoreObject } from '../api/types.ts';
import { planRestore, restoredPvcName, type PlanInput } from './plan.ts';

const rp = (over: { available?: boolean; vmSpec?: boolean } = {}): RecoveryPointObject => ({
  apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint', metadata: { name: 'web-1', namespace: 'ns' },
  spec: {
    vmName: 'web', capturedAt: '2026-11-27T01:00:00Z', consistency: 'CrashConsistent', backupType: 'Full', sizeBytes: 3072,
    vaultRef: { name: 'vault' }, sourceBackup: 'web-1', vmUID: 'vm-uid',
    ...(over.vmSpec === false ? {} : { vmSpec: { template: { spec: {} } } }),
    disks: [
      { name: 'root', vaultDiskId: 'ns.vm-uid.root', manifestId: 'm1', type: 'Full', sizeBytes: 1024, volumeMode: 'Filesystem', storageClassName: 'fast', accessModes: ['ReadWriteMany'] },
      { name: 'data', vaultDiskId: 'ns.vm-uid.data', manifestId: 'm2', type: 'Full', sizeBytes: 2048, volumeMode: 'Block' },
    ],
  },
  status: { conditions: [{ type: 'Available', status: over.available === false ? 'False' : 'True', reason: over.available === false ? 'Expired' : 'InVault', message: 'gone', lastTransitionTime: '2026-11-27T01:00:00Z' }] },
});

const restore = (spec: Partial<VirtualMachineRestoreObject['spec']> = {}): VirtualMachineRestoreObject => ({
  apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore', metadata: { name: 'r', namespace: 'ns', uid: 'u1' },
  spec: { recoveryPointRef: { name: 'web-1' }, target: { newVMName: 'web-copy' }, ...spec },
});

const input = (over: Partial<PlanInput> = {}): PlanInput => ({ restore: restore(), recoveryPoint: rp(), vaultExists: true, target: 'absent', ...over });

function refusal(over: Partial<PlanInput>): string {
  const out = planRestore(input(over));
  if (out.ok) throw new Error('expected a refusal');
  return `${out.reason}: ${out.message}`;
}

test('every disk by default: new PVC names, recorded modes, sizes, classes and access modes', () => {
  const out = planRestore(input());
  assert.ok(out.ok);
  if (!out.ok) return;
  assert.is(out.plan.targetVMName, 'web-copy');
  assert.is(out.plan.startVM, false);
  assert.equal(out.plan.disks.map((d) => [d.name, d.pvcName, d.volumeMode, d.sizeBytes, d.storageClassName, d.accessModes.join()]), [
    ['root', 'web-copy-root', 'Filesystem', 1024, 'fast', 'ReadWriteMany'],
    ['data', 'web-copy-data', 'Block', 2048, undefined, 'ReadWriteOnce'],
  ]);
});

test('spec.disks selects, spec.storageClassName overrides, startVM carries over', () => {
  const out = planRestore(input({ restore: restore({ disks: ['data'], storageClassName: 'slow', startVM: true }) }));
  assert.ok(out.ok);
  if (!out.ok) return;
  assert.equal(out.plan.disks.map((d) => `${d.name}:${d.storageClassName}`), ['data:slow']);
  assert.is(out.plan.startVM, true);
});

test('refusals name what to fix', () => {
  assert.match(refusal({ recoveryPoint: undefined }), /^RecoveryPointNotFound: RecoveryPoint web-1 not found/);
  assert.match(refusal({ recoveryPoint: rp({ available: false }) }), /^RecoveryPointUnavailable: .*not Available \(Expired: gone\)/);
  assert.match(refusal({ recoveryPoint: rp({ vmSpec: false }) }), /^RecoveryPointUnavailable: .*no VirtualMachine spec/);
  assert.match(refusal({ restore: restore({ disks: ['root', 'nope'] }) }), /^DiskNotFound: spec.disks names nope, .*its disks are root, data/);
  assert.match(refusal({ target: 'foreign' }), /^TargetExists: VirtualMachine web-copy already exists/);
  assert.match(refusal({ foreignPvcs: ['web-copy-data'] }), /^TargetExists: PersistentVolumeClaim\(s\) web-copy-data already exist/);
  assert.match(refusal({ vaultExists: false }), /^VaultNotFound: BackupVault vault/);
  assert.match(refusal({ vaultReady: { status: 'False', reason: 'KeySecretMissing', message: 'Secret vault-key not found' } }), /^VaultNotReady: BackupVault vault is not Ready \(KeySecretMissing: Secret vault-key not found\)/);
  assert.ok(planRestore(input({ vaultReady: { status: 'Unknown', reason: 'Pending' } })).ok, 'only a definite False refuses');
});

test('a point naming vault data of another namespace or VM is never restored', () => {
  for (const id of ['other-ns.vm-uid.root', 'ns.other-vm.root', 'ns.vm-uid.data']) {
    const forged = rp();
    forged.spec.disks[0]!.vaultDiskId = id;
    assert.match(refusal({ recoveryPoint: forged }), /^ForeignVaultData: RecoveryPoint web-1 names vault data that is not its own VM's in namespace ns \(disk\(s\) root\)/, id);
  }
});

const liveVm = (uid = 'vm-uid'): NonNullable<PlanInput['currentVm']> => ({
  metadata: { name: 'web', uid },
  spec: { runStrategy: 'Always', template: { spec: { domain: { devices: { disks: [{ name: 'root' }, { name: 'data' }] } }, volumes: [{ name: 'root', dataVolume: { name: 'web-root-dv' } }, { name: 'data', persistentVolumeClaim: { claimName: 'web-data' } }] } } },
});
const inPlace = (spec: Partial<VirtualMachineRestoreObject['spec']> = {}): VirtualMachineRestoreObject => restore({ target: { inPlace: true }, ...spec });

test('in place: the VM as it is now, new PVCs beside the old ones, the run state to put back', () => {
  const point = rp();
  point.spec.vmUID = 'vm-uid';
  const out = planRestore(input({ restore: inPlace({ startVM: true }), recoveryPoint: point, currentVm: liveVm() }));
  assert.ok(out.ok);
  if (!out.ok) return;
  assert.is(out.plan.mode, 'InPlace');
  assert.is(out.plan.targetVMName, 'web');
  assert.equal(out.plan.disks.map((d) => d.pvcName), ['web-root-u1', 'web-data-u1']);
  assert.equal(out.plan.replacedClaims, { root: 'web-root-dv', data: 'web-data' });
  assert.equal(out.plan.runState, { runStrategy: 'Always', wasRunning: true });
});

test('in place refusals: the VM gone, re-created since, or without that disk now', () => {
  const point = rp();
  point.spec.vmUID = 'vm-uid';
  assert.match(refusal({ restore: inPlace(), recoveryPoint: point }), /^VirtualMachineNotFound: VirtualMachine web no longer exists.*newVMName: web/);
  assert.match(refusal({ restore: inPlace(), recoveryPoint: point, currentVm: liveVm('other') }), /^VirtualMachineNotFound: .*re-created.*UID differs/);
  const oneDisk = liveVm();
  oneDisk.spec!.template!.spec!.volumes = [{ name: 'root', persistentVolumeClaim: { claimName: 'web-root' } }];
  assert.match(refusal({ restore: inPlace(), recoveryPoint: point, currentVm: oneDisk }), /^DiskNotFound: VirtualMachine web has no PVC volume data now/);
  assert.match(refusal({ restore: inPlace(), recoveryPoint: point, currentVm: liveVm(), foreignPvcs: ['web-data-u1'] }), /^TargetExists: .*web-data-u1/);
});

test('a target VM this restore created (a re-run after a crash) is not a refusal', () => {
  assert.ok(planRestore(input({ target: 'ours' })).ok);
});

test('PVC names stay valid DNS labels however long the VM name', () => {
  const n = restoredPvcName('a'.repeat(60), 'rootdisk');
  assert.ok(n.length <= 63, n);
  assert.is.not(n, restoredPvcName('a'.repeat(60), 'rootdisk2'));
});

test.run();
