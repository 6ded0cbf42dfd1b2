import type { V1Pod } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupVaultObject } from '../api/types.ts';
import { checkPod, checkWithPod, judgeCheckPod, type CheckPodApi } from './check-pod.ts';

const vault = {
  apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'onsite', namespace: 'ns', uid: 'u1' },
  spec: { filesystem: { persistentVolumeClaim: { claimName: 'nfs', subPath: 'tresor' } }, encryption: { keySecretRef: { name: 'k' } } },
} as unknown as BackupVaultObject;
const settings = { image: 'tresor:dev', nodeSelector: { node: 'a' }, filesystemVaults: [{ namespace: 'ns', pvc: true }] };

test('the check pod runs tresor vault check with the transfer pods\' vault access, owned by the vault', () => {
  const p = checkPod(vault, settings, 1000);
  const c = p.spec!.containers[0]!;
  assert.equal(c.args, ['vault', 'check', '--vault', 'file:///var/lib/tresor/vault/tresor', '--key-file', '/etc/tresor/key/vault.key', '--json']);
  assert.equal(p.spec!.volumes!.filter((v) => !v.emptyDir).map((v) => v.persistentVolumeClaim?.claimName ?? v.secret?.secretName), ['k', 'nfs']);
  assert.equal(p.metadata!.ownerReferences![0]!.uid, 'u1');
  assert.equal(p.metadata!.labels!['tresor.io/role'], 'vault-check');
  assert.equal(p.spec!.nodeSelector, { node: 'a' });
});

test('a check pod\'s answer maps to a reason', () => {
  const ok = judgeCheckPod(0, '{"vaultId":"abc","version":1,"blockSize":65536}\n', 'file:///v');
  assert.equal([ok.status, ok.reason, ok.repositoryId, ok.formatVersion], ['True', 'VaultReady', 'abc', 1]);
  const cases: Array<[string, string]> = [
    ['tresor vault check: error: wrong key for vault file:///v: the key file does not match', 'WrongKey'],
    ["tresor vault check: error: no vault at file:///v: create one with 'tresor vault init'", 'VaultUninitialized'],
    ['tresor vault check: error: key file /etc/tresor/key/vault.key must hold 64 hex digits', 'KeyInvalid'],
    ['EACCES: permission denied', 'VaultUnreachable'],
  ];
  for (const [msg, reason] of cases) assert.is(judgeCheckPod(1, msg, 'file:///v').reason, reason, msg);
  assert.is(judgeCheckPod(0, 'garbage', 'file:///v').reason, 'VaultUnreachable');
});

function fakePods(finishAfterReads: number | undefined): { api: CheckPodApi; pods: Map<string, V1Pod>; log: string[] } {
  const pods = new Map<string, V1Pod>([['onsite-check-old', { metadata: { name: 'onsite-check-old' } }]]);
  const log: string[] = [];
  let reads = 0;
  const api: CheckPodApi = {
    create: async (p) => void (pods.set(p.metadata!.name!, p), log.push('create')),
    read: async (_ns, name) => {
      const p = pods.get(name);
      if (p && finishAfterReads !== undefined && ++reads >= finishAfterReads) {
        return { ...p, status: { containerStatuses: [{ name: 'check', ready: false, restartCount: 0, image: '', imageID: '', state: { terminated: { exitCode: 0, message: '{"vaultId":"v9","version":1}' } } }] } };
      }
      return p && { ...p, status: { phase: 'Pending', containerStatuses: [{ name: 'check', ready: false, restartCount: 0, image: '', imageID: '', state: { waiting: { reason: 'ContainerCreating' } } }] } };
    },
    list: async () => [...pods.values()],
    remove: async (_ns, name) => void (pods.delete(name), log.push(`remove ${name}`)),
  };
  return { api, pods, log };
}

test('a check waits for its pod, judges it, and leaves no pod behind (old ones included)', async () => {
  const f = fakePods(3);
  const r = await checkWithPod(vault, { pods: f.api, settings, pollMs: 1 });
  assert.equal([r.status, r.reason, r.repositoryId], ['True', 'VaultReady', 'v9']);
  assert.is(f.pods.size, 0);
  assert.is(f.log[0], 'remove onsite-check-old');
});

test('a pod that never ends is VaultUnreachable with what it was waiting for, and is removed', async () => {
  const f = fakePods(undefined);
  let t = 0;
  const r = await checkWithPod(vault, { pods: f.api, settings, pollMs: 1, timeoutMs: 50, now: () => (t += 10) });
  assert.equal([r.status, r.reason], ['False', 'VaultUnreachable']);
  assert.match(r.message, /Pending: ContainerCreating/);
  assert.is(f.pods.size, 0);
});

test('a check pod the namespace refuses (Pod Security) is a PodRejected verdict with the apiserver\'s reason, not an error to retry', async () => {
  const f = fakePods(undefined);
  const body = JSON.stringify({ kind: 'Status', message: 'pods "onsite-check-x" is forbidden: violates PodSecurity "restricted:latest": restricted volume types (volume "vault-data" uses restricted volume type "hostPath")', code: 403 });
  const refusing: CheckPodApi = { ...f.api, create: async () => { throw Object.assign(new Error('HTTP-Code: 403'), { code: 403, body }); } };
  const r = await checkWithPod(vault, { pods: refusing, settings, pollMs: 1 });
  assert.equal([r.status, r.reason], ['False', 'PodRejected']);
  assert.match(r.message, /violates PodSecurity "restricted:latest".*use an S3 or PVC vault there/);
  const failing: CheckPodApi = { ...f.api, create: async () => { throw Object.assign(new Error('HTTP-Code: 500'), { code: 500 }); } };
  await checkWithPod(vault, { pods: failing, settings, pollMs: 1 }).then(() => assert.unreachable('a 500 stays an error'), (e: Error) => assert.match(e.message, /500/));
});

test.run();
