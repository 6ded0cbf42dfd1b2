import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { V1Container, V1Pod, V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';
import type { BackupVaultObject } from '../../api/types.ts';
import { restorePod } from '../../restore/specs.ts';
import { checkPod } from '../../vaults/check-pod.ts';
import { maintenancePod } from '../../vaults/maintenance.ts';
import { POD_UID } from './hardening.ts';
import { snapshotPod, transferPod, type PodSettings } from './specs.ts';
import { vaultAccess } from './vault-access.ts';

const settings: PodSettings = { image: 'tresor:dev', transferServiceAccount: 'tresor-transfer', snapshotServiceAccount: 'tresor-snapshot', filesystemVaults: [{ namespace: 'ns', path: '/srv/v' }, { namespace: 'ns', pvc: true }] };
const vault: BackupVaultObject = { apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace: 'ns', uid: 'u' }, spec: { filesystem: { persistentVolumeClaim: { claimName: 'nfs' } }, encryption: { keySecretRef: { name: 'k' } } } };
const hostVault: BackupVaultObject = { ...vault, spec: { filesystem: { path: '/srv/v' }, encryption: { keySecretRef: { name: 'k' } } } };
const job = { namespace: 'ns', name: 'j', uid: 'ju' };
const block = { name: 'root', pvcName: 'web-root', volumeMode: 'Block' as const, sizeBytes: 1 << 20 };

type Check = [string, (pod: V1Pod, c: V1Container) => boolean];
const sc = (c: V1Container): V1SecurityContext => c.securityContext ?? {};
const psc = (pod: V1Pod): V1PodSecurityContext => pod.spec!.securityContext ?? {};
/** What Pod Security Admission `restricted` (v1.35) checks per container, plus what ADR 0092 adds (read-only root, resources, /tmp). */
const CONTAINER_CHECKS: Check[] = [
  ['privileged', (_, c) => sc(c).privileged === true],
  ['allowPrivilegeEscalation', (_, c) => sc(c).allowPrivilegeEscalation !== false],
  ['runAsNonRoot', (p, c) => !(sc(c).runAsNonRoot ?? psc(p).runAsNonRoot)],
  ['runAsUser 0', (p, c) => (sc(c).runAsUser ?? psc(p).runAsUser) === 0],
  ['capabilities', (_, c) => JSON.stringify(sc(c).capabilities?.drop) !== '["ALL"]' || (sc(c).capabilities?.add ?? []).length > 0],
  ['readOnlyRootFilesystem', (_, c) => sc(c).readOnlyRootFilesystem !== true],
  ['resources', (_, c) => !c.resources?.limits?.memory || !c.resources.requests?.cpu || !c.resources.requests.memory],
  ['no writable /tmp', (_, c) => !c.volumeMounts?.some((m) => m.mountPath === '/tmp')],
];

function restrictedViolations(pod: V1Pod): string[] {
  const spec = pod.spec!;
  const out: string[] = [];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push('host namespaces');
  if (psc(pod).seccompProfile?.type !== 'RuntimeDefault') out.push('pod seccomp');
  for (const v of spec.volumes ?? []) if (v.hostPath) out.push(`hostPath ${v.name}`);
  for (const c of spec.containers) for (const [what, bad] of CONTAINER_CHECKS) if (bad(pod, c)) out.push(`${c.name}: ${what}`);
  return out;
}

test('every pod the operator makes is PSA restricted, read-only, non-root with a fixed UID, and sized', () => {
  const access = vaultAccess(vault, settings.filesystemVaults!);
  const pods: Record<string, V1Pod> = {
    snapshot: snapshotPod({ job, vmName: 'web', disks: [block], freeze: true, runHooks: false, freezeTimeoutMs: 1000 }, settings),
    transfer: transferPod({ job, vmName: 'web', disk: block, attempt: 0, diskId: 'ns.u.root', forceFull: false, vault: access }, settings),
    restore: restorePod({ ref: { namespace: 'ns', name: 'r', uid: 'ru' }, vmName: 'web', disk: { name: 'root', pvcName: 'p', vaultDiskId: 'ns.u.root', manifestId: 'm', sizeBytes: 1, volumeMode: 'Block', accessModes: ['ReadWriteOnce'] }, attempt: 0, vault: access }, settings),
    check: checkPod(vault, settings, 1),
    maintenance: maintenancePod(vault, [['vault', 'gc']], settings, 1),
  };
  for (const [kind, pod] of Object.entries(pods)) {
    assert.equal(restrictedViolations(pod), [], kind);
    assert.is(pod.spec!.securityContext!.runAsUser, POD_UID, kind);
  }
  assert.is(pods.check!.spec!.automountServiceAccountToken, false, 'the check pod gets no token');
  assert.is(pods.maintenance!.spec!.automountServiceAccountToken, false, 'the maintenance pod gets no token');
  assert.is(pods.check!.spec!.serviceAccountName, 'tresor-transfer', 'not the namespace default account');
  assert.is(checkPod(vault, { ...settings, vaultServiceAccount: 'tresor-vault' }, 1).spec!.serviceAccountName, 'tresor-vault');
  assert.is(pods.maintenance!.spec!.containers[0]!.resources!.limits!.memory, '1Gi', 'maintenance reads data: the data pods\' limit');
  assert.is(pods.check!.spec!.containers[0]!.resources!.limits!.memory, '256Mi');
});

test('the checker itself catches a pod that is not hardened', () => {
  const bare: V1Pod = { metadata: {}, spec: { containers: [{ name: 'c', image: 'x' }] } };
  assert.equal(restrictedViolations(bare).length, 7);
});

test('a granted host-path vault is the one documented exception: its pods differ from restricted only by the hostPath volume', () => {
  assert.equal(restrictedViolations(checkPod(hostVault, settings, 1)), ['hostPath vault-data']);
});

test.run();
