// The local node agent as a CSI driver with snapshots: PVCs of its StorageClass get volumes (Block:
// a file that appears at the pod's devicePath; Filesystem: a directory at the mountPath); a
// VolumeSnapshot becomes readyToUse and a PVC restored from it holds the snapshot's bytes, unchanged by
// later writes to the source; deleting the snapshot removes its content.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startAgentProcess, type AgentProcess } from '../../hack/node-agent/testing.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, uniqueSuffix } from '../harness.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const SNAP = { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' };
const t = suite<{ ns: string; agent: AgentProcess | undefined; other: AgentProcess | undefined }>('node agent: storage', { ns: '', agent: undefined, other: undefined });

t.before(async (ctx) => {
  ctx.agent = await startAgentProcess({ nodeName: `na-storage-${uniqueSuffix()}`, args: ['--no-aggregated-api'] }); // no VM is frozen here
  // A second agent on the same machine races for every claim and snapshot: only the one whose state
  // dir holds the bytes may cut, copy or delete them, so the results below must not change.
  ctx.other = await startAgentProcess({ nodeName: `na-storage-other-${uniqueSuffix()}`, args: ['--no-aggregated-api'] });
  ctx.ns = await createNamespace('node-agent-storage');
});

t.after(async (ctx) => {
  if (ctx.ns) {
    await deleteNamespace(ctx.ns);
    // Let the agent release the snapshots' finalizers before it stops.
    await eventually('the namespace to be gone', async () => core.readNamespace({ name: ctx.ns }).then(() => undefined, () => true), 60_000).catch(() => undefined);
  }
  await ctx.other?.stop();
  await ctx.agent?.stop();
});

/** Creates a claim pinned to the agent's node (as kube-scheduler pins WaitForFirstConsumer claims) and waits until it is Bound. */
async function pvc(where: { ns: string; node: string }, name: string, mode: 'Block' | 'Filesystem', dataSource?: string): Promise<void> {
  const { ns, node } = where;
  await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: {
    metadata: { name, annotations: { 'volume.kubernetes.io/selected-node': node } },
    spec: {
      accessModes: ['ReadWriteOnce'], volumeMode: mode, resources: { requests: { storage: '4Mi' } },
      ...(dataSource ? { dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: dataSource } } : {}),
    },
  } });
  await eventually(`claim ${name} to be Bound`, async () => {
    const c = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name });
    return c.status?.phase === 'Bound' ? true : undefined;
  }, 30_000);
}

// A block volume is a regular file at devicePath: a shell's `>` would truncate it (a real device ignores
// O_TRUNC), so writes go through dd conv=notrunc as they would to a device.
const toDev = (data: string): string => `printf '%s' '${data}' | dd of=/dev/xvda conv=notrunc 2>/dev/null`;

/** Runs a busybox-style shell script in a pod with the claims attached; returns its termination message. */
async function runPod(where: { ns: string; node: string }, name: string, script: string, claims: { block?: string; fs?: string }): Promise<string> {
  const { ns, node } = where;
  const volumes = [
    ...(claims.block ? [{ name: 'blk', persistentVolumeClaim: { claimName: claims.block } }] : []),
    ...(claims.fs ? [{ name: 'fs', persistentVolumeClaim: { claimName: claims.fs } }] : []),
  ];
  const body: V1Pod = {
    metadata: { name },
    spec: {
      restartPolicy: 'Never', nodeSelector: { 'kubernetes.io/hostname': node }, volumes,
      containers: [{
        name: 'main', image: 'busybox', command: ['sh', '-c', script],
        ...(claims.block ? { volumeDevices: [{ name: 'blk', devicePath: '/dev/xvda' }] } : {}),
        ...(claims.fs ? { volumeMounts: [{ name: 'fs', mountPath: '/var/lib/data' }] } : {}),
      }],
    },
  };
  await core.createNamespacedPod({ namespace: ns, body });
  const p = await eventually(`pod ${name} to finish`, async () => {
    const got = await core.readNamespacedPod({ namespace: ns, name });
    return got.status?.phase === 'Succeeded' || got.status?.phase === 'Failed' ? got : undefined;
  }, 60_000);
  const term = p.status?.containerStatuses?.[0]?.state?.terminated;
  assert.is(p.status?.phase, 'Succeeded', `pod ${name}: ${term?.message}`);
  return term?.message ?? '';
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const pattern = (seed: string): string => Array.from({ length: 2000 }, (_, i) => `${seed}-${i}`).join(',');

t('a block PVC appears at devicePath and a filesystem PVC at mountPath, with the bytes written', async ({ ns, agent }) => {
  await pvc({ ns, node: agent!.nodeName }, 'blk', 'Block');
  await pvc({ ns, node: agent!.nodeName }, 'fs', 'Filesystem');
  const data = pattern('first');
  await runPod({ ns, node: agent!.nodeName }, 'writer', `${toDev(data)} && printf '%s' '${data}' > /var/lib/data/disk.img && sync`, { block: 'blk', fs: 'fs' });
  const msg = await runPod({ ns, node: agent!.nodeName }, 'reader',
    `echo "$(head -c ${data.length} /dev/xvda | sha256sum | cut -d' ' -f1) $(sha256sum < /var/lib/data/disk.img | cut -d' ' -f1) $(wc -c < /dev/xvda)" > /dev/termination-log`,
    { block: 'blk', fs: 'fs' });
  const [blockHash, fsHash, blockSize] = msg.trim().split(' ');
  assert.is(blockHash, sha(data), 'the block device holds what was written');
  assert.is(fsHash, sha(data), 'the filesystem volume holds what was written');
  assert.is(Number(blockSize), 4 * 2 ** 20, 'the block device has the claim\'s size');
  assert.not.ok(existsSync('/var/lib/data'), 'nothing was created on the host at the mount path');
  for (const name of ['blk', 'fs']) {
    const claim = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name });
    const pv = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
    assert.ok(pv.spec?.csi?.volumeHandle.startsWith(`${agent!.stateDir}/`), `${name} was provisioned by the agent of the node it is pinned to`);
  }
});

t('a VolumeSnapshot becomes readyToUse; a PVC restored from it holds the snapshot\'s bytes, not later writes', async ({ ns, agent }) => {
  const before = pattern('before');
  await runPod({ ns, node: agent!.nodeName }, 'fill', `${toDev(before)} && printf '%s' '${before}' > /var/lib/data/disk.img`, { block: 'blk', fs: 'fs' });
  for (const [snap, claim] of [['snap-blk', 'blk'], ['snap-fs', 'fs']] as const) {
    await custom.createNamespacedCustomObject({ ...SNAP, namespace: ns, body: {
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: snap },
      spec: { volumeSnapshotClassName: 'tresor-local', source: { persistentVolumeClaimName: claim } },
    } });
  }
  for (const snap of ['snap-blk', 'snap-fs']) {
    const vs = await eventually(`${snap} to be readyToUse`, async () => {
      const got = (await custom.getNamespacedCustomObject({ ...SNAP, namespace: ns, name: snap })) as { status?: Record<string, unknown> };
      return got.status?.readyToUse === true ? got : undefined;
    }, 30_000);
    assert.is(vs.status?.restoreSize, '4Mi');
    assert.ok(vs.status?.boundVolumeSnapshotContentName, 'bound to a content');
    assert.ok(vs.status?.creationTime, 'creation time set');
  }
  await runPod({ ns, node: agent!.nodeName }, 'overwrite', `${toDev(pattern('after'))} && printf '%s' '${pattern('after')}' > /var/lib/data/disk.img`, { block: 'blk', fs: 'fs' });
  await pvc({ ns, node: agent!.nodeName }, 'blk-restored', 'Block', 'snap-blk');
  await pvc({ ns, node: agent!.nodeName }, 'fs-restored', 'Filesystem', 'snap-fs');
  const msg = await runPod({ ns, node: agent!.nodeName }, 'check',
    `echo "$(head -c ${before.length} /dev/xvda | sha256sum | cut -d' ' -f1) $(sha256sum < /var/lib/data/disk.img | cut -d' ' -f1)" > /dev/termination-log`,
    { block: 'blk-restored', fs: 'fs-restored' });
  assert.equal(msg.trim().split(' '), [sha(before), sha(before)], 'restored volumes hold the bytes at snapshot time');
});

t('deleting a VolumeSnapshot removes its content (deletionPolicy Delete)', async ({ ns }) => {
  const vs = (await custom.getNamespacedCustomObject({ ...SNAP, namespace: ns, name: 'snap-blk' })) as { status: { boundVolumeSnapshotContentName: string } };
  const content = vs.status.boundVolumeSnapshotContentName;
  await custom.deleteNamespacedCustomObject({ ...SNAP, namespace: ns, name: 'snap-blk' });
  await eventually('the snapshot and its content to be gone', async () => {
    const gone = async (p: Promise<unknown>): Promise<boolean> => p.then(() => false, (e: { code?: number }) => e.code === 404);
    const a = await gone(custom.getNamespacedCustomObject({ ...SNAP, namespace: ns, name: 'snap-blk' }));
    const b = await gone(custom.getClusterCustomObject({ group: SNAP.group, version: 'v1', plural: 'volumesnapshotcontents', name: content }));
    return a && b ? true : undefined;
  }, 30_000);
});

t('a VolumeSnapshot of a missing PVC reports status.error and is not ready', async ({ ns }) => {
  await custom.createNamespacedCustomObject({ ...SNAP, namespace: ns, body: {
    apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name: 'snap-missing' },
    spec: { volumeSnapshotClassName: 'tresor-local', source: { persistentVolumeClaimName: 'no-such-claim' } },
  } });
  const vs = await eventually('status.error', async () => {
    const got = (await custom.getNamespacedCustomObject({ ...SNAP, namespace: ns, name: 'snap-missing' })) as { status?: { readyToUse?: boolean; error?: { message?: string } } };
    return got.status?.error ? got : undefined;
  }, 15_000);
  assert.is(vs.status?.readyToUse, false);
  assert.match(vs.status?.error?.message ?? '', 'no-such-claim');
});

t.run();
