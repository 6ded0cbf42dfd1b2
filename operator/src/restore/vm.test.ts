import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RestorePlan } from './ports.ts';
import { createdBy, parseRunState, restoredVm, runPatch, swappedVolumes } from './vm.ts';

const captured = {
  running: true,
  dataVolumeTemplates: [{ metadata: { name: 'web-root' } }],
  template: {
    metadata: { labels: { app: 'web' } },
    spec: {
      domain: {
        firmware: { uuid: 'f-uuid', serial: 's-1', bootloader: { efi: {} } },
        devices: {
          disks: [{ name: 'root', disk: {} }, { name: 'data', disk: {} }, { name: 'logs', disk: {} }, { name: 'cloudinit', disk: {} }],
          interfaces: [{ name: 'default', macAddress: '02:00:00:00:00:01', masquerade: {} }],
        },
      },
      volumes: [
        { name: 'root', dataVolume: { name: 'web-root' } },
        { name: 'data', persistentVolumeClaim: { claimName: 'web-data' } },
        { name: 'logs', persistentVolumeClaim: { claimName: 'web-logs' } },
        { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config' } },
      ],
    },
  },
};

const plan = (startVM: boolean): RestorePlan => ({ mode: 'NewVM',
  recoveryPoint: 'web-1', vaultName: 'vault', targetVMName: 'web-copy', startVM, vmSpec: captured,
  disks: ['root', 'data'].map((name) => ({ name, pvcName: `web-copy-${name}`, vaultDiskId: `x.${name}`, manifestId: 'm', sizeBytes: 1, volumeMode: 'Block' as const, accessModes: ['ReadWriteOnce'] })),
});
const ref = { namespace: 'ns', name: 'r', uid: 'u1' };

test('restored disks point at the new PVCs; a PVC disk not restored is left out; other volumes stay', () => {
  const { vm, droppedDisks } = restoredVm(ref, plan(false));
  const t = vm.spec?.template?.spec as { volumes: unknown[]; domain: { devices: { disks: Array<{ name: string }> } } };
  assert.equal(t.volumes, [
    { name: 'root', persistentVolumeClaim: { claimName: 'web-copy-root' } },
    { name: 'data', persistentVolumeClaim: { claimName: 'web-copy-data' } },
    { name: 'cloudinit', cloudInitNoCloud: { userData: '#cloud-config' } },
  ]);
  assert.equal(t.domain.devices.disks.map((d) => d.name), ['root', 'data', 'cloudinit']);
  assert.equal(droppedDisks, ['logs']);
});

test('the identity is stripped, DataVolume templates dropped, and it runs only when asked', () => {
  const halted = restoredVm(ref, plan(false)).vm;
  const spec = halted.spec as Record<string, unknown> & { template: { spec: { domain: { firmware: Record<string, unknown>; devices: { interfaces: Array<Record<string, unknown>> } } } } };
  assert.equal(spec.template.spec.domain.firmware, { bootloader: { efi: {} } });
  assert.equal(spec.template.spec.domain.devices.interfaces, [{ name: 'default', masquerade: {} }]);
  assert.is(spec.dataVolumeTemplates, undefined);
  assert.is(spec.running, undefined);
  assert.is(spec.runStrategy, 'Halted');
  assert.is((restoredVm(ref, plan(true)).vm.spec as { runStrategy?: string }).runStrategy, 'Always');
});

test('the captured spec is not modified (the recovery point is a record)', () => {
  const before = JSON.stringify(captured);
  restoredVm(ref, plan(true));
  assert.is(JSON.stringify(captured), before);
});

test('the VM carries the restore\'s UID, not an owner reference, and is recognised by it', () => {
  const { vm } = restoredVm(ref, plan(false));
  assert.is(vm.metadata?.name, 'web-copy');
  assert.is(vm.metadata?.ownerReferences, undefined);
  assert.is(vm.metadata?.labels?.['tresor.io/restore'], 'r');
  assert.ok(createdBy(vm, ref));
  assert.not.ok(createdBy(vm, { ...ref, uid: 'other' }));
  assert.not.ok(createdBy({ metadata: { name: 'web-copy' } }, ref));
});

test('in place: only the restored volumes change, and again is the same', () => {
  const vm = { metadata: { name: 'web' }, spec: structuredClone(captured) };
  const once = swappedVolumes(vm, plan(false));
  assert.equal(once.map((v) => JSON.stringify(v)), [
    '{"name":"root","persistentVolumeClaim":{"claimName":"web-copy-root"}}',
    '{"name":"data","persistentVolumeClaim":{"claimName":"web-copy-data"}}',
    '{"name":"logs","persistentVolumeClaim":{"claimName":"web-logs"}}',
    '{"name":"cloudinit","cloudInitNoCloud":{"userData":"#cloud-config"}}',
  ]);
  const again = swappedVolumes({ metadata: { name: 'web' }, spec: { template: { spec: { volumes: once } } } } as never, plan(false));
  assert.equal(again, once);
});

test('in place: start keeps a running strategy, asBefore puts back exactly what was there', () => {
  assert.equal(runPatch({ runStrategy: 'RerunOnFailure', wasRunning: true }, 'start'), { running: null, runStrategy: 'RerunOnFailure' });
  assert.equal(runPatch({ runStrategy: 'Halted', wasRunning: false }, 'start'), { running: null, runStrategy: 'Always' });
  assert.equal(runPatch({ running: true, wasRunning: true }, 'asBefore'), { running: true, runStrategy: null });
  assert.equal(runPatch({ runStrategy: 'Always', wasRunning: true }, 'asBefore'), { running: null, runStrategy: 'Always' });
});

test('in place: the run state annotation reads back, and anything else is ignored', () => {
  assert.equal(parseRunState('{"vm":"web","runStrategy":"Always","wasRunning":true}'), { vm: 'web', runStrategy: 'Always', wasRunning: true });
  assert.is(parseRunState(undefined), undefined);
  assert.is(parseRunState('not json'), undefined);
  assert.is(parseRunState('{"runStrategy":"Always"}'), undefined);
});

test.run();
