// KubeBackupCluster against the real apiserver, without a node: children with the job's deterministic
// names are adopted when the job owns them and refused (NameConflict Warning, object untouched) when it
// does not; cleanup deletes by label and tolerates running twice; the vault and job are read as a
// transfer pod needs them.
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { installCrds } from '../../operator/src/api/install.ts';
import { NameConflictError } from '../../operator/src/backup/kube/client.ts';
import { KubeBackupCluster } from '../../operator/src/backup/kube/cluster.ts';
import { jobLabels, ownerRef } from '../../operator/src/backup/kube/specs.ts';
import type { JobRef } from '../../operator/src/backup/ports.ts';
import { coreEventSink, EventRecorder } from '../../operator/src/runtime/events.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, kubectl } from '../harness.ts';

const KUBEVIRT_CRDS = new URL('../../hack/crds/kubevirt.yaml', import.meta.url).pathname;
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const TRESOR = { group: 'tresor.io', version: 'v1alpha1' };
const t = suite<{ ns: string; job: JobRef; cluster: KubeBackupCluster }>('backup cluster on the real API: adopt, refuse, clean up');

t.before(async (ctx) => {
  await installCrds((args) => kubectl(args));
  const kv = kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=tresor-tests', '-f', KUBEVIRT_CRDS]);
  assert.is(kv.code, 0, kv.stderr);
  await eventually('the KubeVirt kinds to be served', async () => (kubectl(['api-resources', '--api-group=kubevirt.io', '-o', 'name']).stdout.includes('virtualmachines') ? true : undefined), 30_000);
  ctx.ns = await createNamespace('backup-kube-adopt');
  const vmb = (await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name: 'job' }, spec: { vmName: 'web', vaultRef: { name: 'vault' } },
  } })) as { metadata: { uid: string } };
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'vault' },
    spec: { filesystem: { path: '/var/lib/tresor-test-vault' }, encryption: { keySecretRef: { name: 'k' } } },
  } });
  ctx.job = { namespace: ctx.ns, name: 'job', uid: vmb.metadata.uid };
  await custom.createNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', namespace: ctx.ns, body: {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'web' }, spec: { runStrategy: 'Halted', template: { spec: {} } },
  } });
  const events = new EventRecorder({ sink: coreEventSink(kc), component: 'tresor-test' });
  ctx.cluster = new KubeBackupCluster({ kubeConfig: kc, pods: { image: 'tresor:dev' }, events, pendingTimeoutMs: 1500, snapshotTimeoutMs: 1500 });
});

t.after(async (ctx) => {
  if (ctx.ns) await deleteNamespace(ctx.ns);
});

const disk = { name: 'data', pvcName: 'web-data', volumeMode: 'Block' as const, sizeBytes: 1 << 20 };

t('a same-named pod that is not ours is refused with a NameConflict Warning and left as it was', async (ctx) => {
  await core.createNamespacedPod({ namespace: ctx.ns, body: {
    metadata: { name: 'job-snap', labels: { app: 'someone-else' } },
    spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] },
  } });
  const err = await ctx.cluster.runSnapshot(ctx.job, { freeze: false, runHooks: false, disks: [disk], freezeTimeoutMs: 1000 }).then(() => undefined, (e: unknown) => e);
  assert.instance(err, NameConflictError);
  const pod = await core.readNamespacedPod({ namespace: ctx.ns, name: 'job-snap' });
  assert.is(pod.metadata?.labels?.app, 'someone-else', 'the foreign pod is untouched');
  assert.is(pod.spec?.containers[0]?.image, 'busybox');
  const ev = await eventually('the NameConflict warning', async () => {
    const list = await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'involvedObject.name=job' });
    return list.items.find((e) => e.reason === 'NameConflict' && e.type === 'Warning');
  }, 10_000);
  assert.match(ev.message ?? '', /job-snap/);
  await core.deleteNamespacedPod({ namespace: ctx.ns, name: 'job-snap', gracePeriodSeconds: 0 });
});

t('a child the job owns is adopted, not re-created: a pending snapshot pod fails the step with its reason', async (ctx) => {
  await core.createNamespacedPod({ namespace: ctx.ns, body: {
    metadata: { name: 'job-snap', labels: jobLabels(ctx.job, 'web', { 'tresor.io/role': 'snapshot' }), ownerReferences: [ownerRef(ctx.job)] },
    spec: { containers: [{ name: 'c', image: 'marker-image' }] },
  } });
  const err = await ctx.cluster.runSnapshot(ctx.job, { freeze: false, runHooks: false, disks: [disk], freezeTimeoutMs: 1000 }).then(() => undefined, (e: unknown) => e);
  assert.instance(err, Error);
  assert.match((err as Error).message, /did not finish in time \(still pending/);
  const pod = await core.readNamespacedPod({ namespace: ctx.ns, name: 'job-snap' });
  assert.is(pod.spec?.containers[0]?.image, 'marker-image', 'the adopted pod is the one that was there');
});

t('a recovery point of that name from another job is refused', async (ctx) => {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint', metadata: { name: 'job' },
    spec: { vmName: 'web', capturedAt: '2026-11-27T00:00:00Z', consistency: 'CrashConsistent', backupType: 'Full', sizeBytes: 1, vaultRef: { name: 'vault' }, sourceBackup: 'other-job',
      disks: [{ name: 'data', vaultDiskId: 'x', manifestId: 'm', type: 'Full', sizeBytes: 1 }] },
  } });
  const err = await ctx.cluster.recordRecoveryPoint(ctx.job, { vmName: 'web', vaultName: 'vault', consistency: 'CrashConsistent', keepSnapshots: false, disks: [] }).then(() => undefined, (e: unknown) => e);
  assert.instance(err, NameConflictError);
  const rp = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: 'job' })) as { spec: { sourceBackup: string } };
  assert.is(rp.spec.sourceBackup, 'other-job');
});

t('cleanup deletes the job\'s pods by label, leaves others, and can run twice', async (ctx) => {
  await core.createNamespacedPod({ namespace: ctx.ns, body: { metadata: { name: 'bystander' }, spec: { containers: [{ name: 'c', image: 'x' }] } } });
  await ctx.cluster.cleanup(ctx.job, { keepSnapshots: false });
  await ctx.cluster.cleanup(ctx.job, { keepSnapshots: false });
  await eventually('the job\'s pod to be gone', async () => core.readNamespacedPod({ namespace: ctx.ns, name: 'job-snap' }).then(() => undefined, () => true), 30_000);
  const bystander = await core.readNamespacedPod({ namespace: ctx.ns, name: 'bystander' });
  assert.ok(bystander.metadata?.name);
});

t.run();
