import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { V1Pod } from '@kubernetes/client-node';
import type { BackupVaultObject } from '../api/types.ts';
import type { CheckPodApi } from './check-pod.ts';
import { forgetInVault, gcInVault, maintenancePod, type MaintenanceDeps } from './maintenance.ts';

const fsVault = {
  apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'local', namespace: 'ns', uid: 'u1' },
  spec: { filesystem: { path: '/srv/vault' }, encryption: { keySecretRef: { name: 'k' } }, immutability: { retentionLockDays: 7 } },
} as unknown as BackupVaultObject;

/** A pod API whose pods end at once with the given exit code and termination message. */
function pods(exitCode: number, message: string): { api: CheckPodApi; made: V1Pod[]; removed: string[] } {
  const made: V1Pod[] = [];
  const removed: string[] = [];
  const api: CheckPodApi = {
    create: async (p) => void made.push(p),
    read: async (_ns, name) => ({ metadata: { name }, status: { containerStatuses: [{ name: 'maintenance', image: '', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, message } } }] } }),
    list: async () => [],
    remove: async (_ns, name) => void removed.push(name),
  };
  return { api, made, removed };
}

const deps = (api: CheckPodApi): MaintenanceDeps => ({ secrets: { read: async () => undefined }, pods: { api, settings: { image: 'tresor:test', filesystemVaults: [{ namespace: 'ns', path: '/srv/vault' }] } }, pollMs: 1 });
const disks = [{ diskId: 'ns.uid.root', backupId: '20261127T010000000Z-aaaaaa' }, { diskId: 'ns.uid.data', backupId: '20261127T010000000Z-bbbbbb' }];

test('the maintenance pod runs one forget per disk with the lock days, mounts the vault and is owned by it', () => {
  const runs = disks.map((d) => ['vault', 'forget', '--disk-id', d.diskId, '--backup', d.backupId, '--retention-lock-days', '7']);
  const pod = maintenancePod(fsVault, runs, { image: 'tresor:test', filesystemVaults: [{ namespace: 'ns', path: '/srv/vault' }] }, 1000);
  const script = pod.spec!.containers[0]!.command![2]!;
  assert.is(script.split('\n').filter((l) => l.startsWith('tresor vault forget')).length, 2);
  assert.match(script, /--disk-id ns\.uid\.root --backup 20261127T010000000Z-aaaaaa --retention-lock-days 7 --vault file:\/\/\/var\/lib\/tresor\/vault --key-file \/etc\/tresor\/key\/vault\.key --json >> \/dev\/termination-log 2>&1 \|\| rc=\$\?/);
  assert.ok(script.endsWith('exit $rc'));
  assert.equal(pod.metadata?.ownerReferences?.[0]?.name, 'local');
  assert.equal(pod.metadata?.labels?.['tresor.io/role'], 'vault-maintenance');
  assert.ok(pod.spec!.volumes!.some((v) => v.hostPath?.path === '/srv/vault'));
});

test('forget through a pod returns one report per disk, reads the lock days from the vault, and removes its pod', async () => {
  const lines = disks.map((d, i) => JSON.stringify({ ...d, outcome: i === 0 ? 'forgotten' : 'locked', reason: 'r', ...(i ? { lockedUntil: '2026-12-04T01:00:00.000Z' } : {}) }));
  const p = pods(3, lines.join('\n'));
  const reports = await forgetInVault(fsVault, disks, deps(p.api));
  assert.equal(reports.map((r) => r.outcome), ['forgotten', 'locked']);
  assert.match(p.made[0]!.spec!.containers[0]!.command![2]!, /--retention-lock-days 7/);
  assert.equal(p.removed, [p.made[0]!.metadata!.name!]);
});

test('a pod that could not forget every disk is an error with its words; so is a failed GC pod', async () => {
  const p = pods(1, `${JSON.stringify({ ...disks[0], outcome: 'forgotten', reason: 'r' })}\ntresor vault forget: error: cannot read key file /etc/tresor/key/vault.key`);
  await forgetInVault(fsVault, disks, deps(p.api)).then(
    () => assert.unreachable('a missing report was taken for success'),
    (err: Error) => assert.match(err.message, /failed \(pod exit 1\).*cannot read key file/s),
  );
  const g = pods(1, 'tresor vault gc: error: vault lists no manifests');
  await gcInVault(fsVault, { graceMs: 0, marginMs: 3_600_000 }, deps(g.api)).then(
    () => assert.unreachable('a failed gc was taken for success'),
    (err: Error) => assert.match(err.message, /lists no manifests/),
  );
});

test.run();
