import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RestoreDisk } from './ports.ts';
import { ownedByRestore, restorePod, restorePvc, restoreSelector } from './specs.ts';

const ref = { namespace: 'ns', name: 'r', uid: 'u1' };
const vault = { url: 's3://b/p', env: [{ name: 'AWS_REGION', value: 'x' }], volumes: [{ name: 'vault-key', secret: { secretName: 'k' } }], mounts: [{ name: 'vault-key', mountPath: '/etc/tresor/key' }] };
const disk = (volumeMode: 'Block' | 'Filesystem'): RestoreDisk => ({ name: 'root', pvcName: 'web-copy-root', vaultDiskId: 'ns.u.root', manifestId: 'm1', sizeBytes: 4096, volumeMode, storageClassName: 'fast', accessModes: ['ReadWriteOnce'] });

test('the new PVC: recorded mode and size, class, owned by the restore, labelled', () => {
  const pvc = restorePvc(ref, 'web-copy', disk('Block'));
  assert.is(pvc.metadata?.name, 'web-copy-root');
  assert.equal(pvc.spec?.resources?.requests, { storage: '4096' });
  assert.is(pvc.spec?.volumeMode, 'Block');
  assert.is(pvc.spec?.storageClassName, 'fast');
  assert.equal(pvc.metadata?.ownerReferences?.map((o) => [o.kind, o.uid, o.controller]), [['VirtualMachineRestore', 'u1', true]]);
  assert.ok(ownedByRestore(pvc, ref));
  assert.not.ok(ownedByRestore(pvc, { ...ref, uid: 'u2' }));
  assert.is(restoreSelector(ref), 'app.kubernetes.io/managed-by=tresor,tresor.io/restore=r');
});

test('a Block disk is restored onto the device itself', () => {
  const pod = restorePod({ ref, vmName: 'web-copy', disk: disk('Block'), attempt: 1, vault }, { image: 'tresor:dev', nodeSelector: { n: '1' } });
  const c = pod.spec!.containers[0]!;
  assert.is(pod.metadata?.name, 'r-root-restore-1');
  assert.equal(c.args, ['disk', 'restore', '--vault', 's3://b/p', '--key-file', '/etc/tresor/key/vault.key', '--disk-id', 'ns.u.root', '--backup', 'm1', '--target', '/dev/tresor-target', '--json', '--progress-events']);
  assert.ok(c.env?.some((e) => e.name === 'POD_NAME' && e.valueFrom?.fieldRef?.fieldPath === 'metadata.name'), 'the mover knows its pod (progress Event)');
  assert.is(pod.spec?.serviceAccountName, undefined, 'no transfer account configured: the namespace default');
  assert.is(restorePod({ ref, vmName: 'web-copy', disk: disk('Block'), attempt: 1, vault }, { image: 'tresor:dev', transferServiceAccount: 'tresor-transfer' }).spec?.serviceAccountName, 'tresor-transfer');
  assert.equal(c.volumeDevices, [{ name: 'target', devicePath: '/dev/tresor-target' }]);
  assert.equal(c.volumeMounts?.filter((m) => m.name !== 'tmp'), vault.mounts);
  assert.equal(pod.spec?.volumes?.[0], { name: 'target', persistentVolumeClaim: { claimName: 'web-copy-root' } });
  assert.equal(pod.spec?.nodeSelector, { n: '1' });
  assert.is(pod.spec?.restartPolicy, 'Never');
});

test('a Filesystem disk becomes disk.img in the volume, as KubeVirt lays it out', () => {
  const c = restorePod({ ref, vmName: 'web-copy', disk: disk('Filesystem'), attempt: 0, vault }, { image: 'tresor:dev' }).spec!.containers[0]!;
  assert.ok(c.args?.includes('/var/lib/tresor/target/disk.img'));
  assert.is(c.volumeDevices, undefined);
  assert.equal(c.volumeMounts?.filter((m) => m.name !== 'tmp').at(-1), { name: 'target', mountPath: '/var/lib/tresor/target' });
});

test.run();
