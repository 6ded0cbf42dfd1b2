// Backup jobs end to end, with nothing faked: the real apiserver, Postgres (DBOS), the versitygw S3
// server, the local node agent as kubelet + CSI driver + KubeVirt, and the operator's own controller,
// workflows, snapshot pod and transfer pods. A running two-disk VM is backed up, its disks restored
// from the vault byte for byte, then 1% of one disk changes and the next backup moves about 1%.
// Then the consistency rules: no guest agent, a failing freeze, a policy demanding more, a stopped VM.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { installCrds } from '../../operator/src/api/install.ts';
import type { RecoveryPointObject, VirtualMachineBackupObject } from '../../operator/src/api/types.ts';
import { loadConfig } from '../../operator/src/operator/config.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator/run.ts';
import { startAgentProcess, type AgentProcess } from '../../hack/node-agent/testing.ts';
import { createBucket, createNamespace, deleteBucket, deleteNamespace, eventually, kubeConfig, kubectl, testEnv, uniqueSuffix } from '../harness.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const TRESOR = { group: 'tresor.io', version: 'v1alpha1' };
const KV = { group: 'kubevirt.io', version: 'v1' };
const BLOCK = 64 * 1024;
const DISK = 32 * 1024 * 1024;
const TRESOR_BIN = new URL('../../operator/bin/tresor.js', import.meta.url).pathname;

interface Ctx {
  ns: string;
  node: string;
  bucket: string;
  vaultUrl: string;
  keyFile: string;
  tmp: string;
  agent: AgentProcess | undefined;
  stop: AbortController;
  operator: RunningOperator | undefined;
}
const t = suite<Ctx>('backup jobs end to end (node agent, apiserver, Postgres, S3)', {
  ns: '', node: '', bucket: '', vaultUrl: '', keyFile: '', tmp: '', agent: undefined, stop: new AbortController(), operator: undefined,
});

function tresorCli(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TRESOR_BIN, ...args], { encoding: 'utf8', env: process.env, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function setupRbac(ns: string): Promise<void> {
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'tresor-snapshot' } } });
  await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: 'tresor-snapshot' }, rules: [
    { apiGroups: ['snapshot.storage.k8s.io'], resources: ['volumesnapshots'], verbs: ['get', 'list', 'create'] },
    { apiGroups: ['subresources.kubevirt.io'], resources: ['virtualmachineinstances/freeze', 'virtualmachineinstances/unfreeze'], verbs: ['update'] },
  ] } });
  await rbac.createNamespacedRoleBinding({ namespace: ns, body: {
    metadata: { name: 'tresor-snapshot' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tresor-snapshot' },
    subjects: [{ kind: 'ServiceAccount', name: 'tresor-snapshot', namespace: ns }],
  } });
}

async function setupVault(ctx: Ctx): Promise<void> {
  const env = testEnv();
  const key = randomBytes(32).toString('hex');
  writeFileSync(ctx.keyFile, `${key}\n`, { mode: 0o600 });
  ctx.vaultUrl = `s3://${ctx.bucket}/vms?endpoint=${encodeURIComponent(env.s3.endpoint)}`;
  const init = tresorCli(['vault', 'init', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile, '--block-size', String(BLOCK)]);
  assert.is(init.code, 0, init.stderr);
  await core.createNamespacedSecret({ namespace: ctx.ns, body: { metadata: { name: 'vault-key' }, stringData: { key } } });
  await core.createNamespacedSecret({ namespace: ctx.ns, body: { metadata: { name: 's3' }, stringData: { AWS_ACCESS_KEY_ID: env.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: env.s3.secretAccessKey } } });
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'vault' },
    spec: { s3: { endpoint: env.s3.endpoint, bucket: ctx.bucket, prefix: 'vms', region: env.s3.region, credentialsSecretRef: { name: 's3' }, forcePathStyle: true }, encryption: { keySecretRef: { name: 'vault-key' } } },
  } });
}

t.before(async (ctx) => {
  ctx.node = `e2e-${uniqueSuffix()}`;
  ctx.agent = await startAgentProcess({ nodeName: ctx.node });
  await installCrds((args) => kubectl(args));
  ctx.ns = await createNamespace('backup-e2e');
  ctx.bucket = await createBucket('backup-e2e');
  ctx.tmp = mkdtempSync(join(tmpdir(), 'backup-e2e-'));
  ctx.keyFile = join(ctx.tmp, 'vault.key');
  await setupRbac(ctx.ns);
  await setupVault(ctx);
  const pg = new URL(testEnv().pgUrl);
  pg.pathname = `/tresor_e2e_${uniqueSuffix()}`;
  const cfg = loadConfig({
    TRESOR_PG_URL: pg.toString(), TRESOR_EXECUTOR_ID: `e2e-${ctx.node}`, TRESOR_WATCH_NAMESPACE: ctx.ns, TRESOR_OPS_PORT: '0',
    TRESOR_SNAPSHOT_SERVICE_ACCOUNT: 'tresor-snapshot', TRESOR_POD_NODE_SELECTOR: `kubernetes.io/hostname=${ctx.node}`,
    TRESOR_MAX_CONCURRENT_TRANSFERS: '4', TRESOR_VERBOSE: process.env.E2E_VERBOSE ?? '',
  });
  ctx.operator = await startOperator(cfg, ctx.stop.signal, kc);
});

t.after(async (ctx) => {
  ctx.stop.abort();
  await ctx.operator?.exited.catch(() => undefined);
  if (ctx.ns) await deleteNamespace(ctx.ns);
  await ctx.agent?.stop();
  if (ctx.bucket) await deleteBucket(ctx.bucket).catch(() => undefined);
  if (ctx.tmp) rmSync(ctx.tmp, { recursive: true, force: true });
});

interface DiskDef {
  name: string;
  mode: 'Block' | 'Filesystem';
  size: number;
}

async function createVm(ctx: Ctx, name: string, o: { disks: DiskDef[]; guest?: Record<string, unknown>; running?: boolean }): Promise<void> {
  for (const d of o.disks) {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ctx.ns, body: {
      metadata: { name: `${name}-${d.name}` },
      spec: { accessModes: ['ReadWriteOnce'], volumeMode: d.mode, resources: { requests: { storage: String(d.size) } } },
    } });
  }
  await custom.createNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ctx.ns, body: {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine',
    metadata: { name, ...(o.guest ? { annotations: { 'hack.tresor.io/guest': JSON.stringify(o.guest) } } : {}) },
    spec: { runStrategy: o.running === false ? 'Halted' : 'Always', template: { spec: {
      nodeSelector: { 'kubernetes.io/hostname': ctx.node },
      domain: { devices: { disks: o.disks.map((d) => ({ name: d.name, disk: { bus: 'virtio' } })) } },
      volumes: o.disks.map((d) => ({ name: d.name, persistentVolumeClaim: { claimName: `${name}-${d.name}` } })),
    } } },
  } });
}

/** The host file holding a disk's bytes (a block PVC's backing file, or disk.img in a filesystem PVC). */
async function diskFile(ctx: Ctx, pvc: string, mode: 'Block' | 'Filesystem'): Promise<string> {
  return eventually(`PVC ${pvc} bound`, async () => {
    const c = await core.readNamespacedPersistentVolumeClaim({ namespace: ctx.ns, name: pvc });
    if (!c.spec?.volumeName || c.status?.phase !== 'Bound') return undefined;
    const pv = await core.readPersistentVolume({ name: c.spec.volumeName });
    const handle = pv.spec!.csi!.volumeHandle;
    return mode === 'Block' ? handle : join(handle, 'disk.img');
  }, 30_000);
}

function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function waitRunning(ctx: Ctx, name: string): Promise<void> {
  await eventually(`VMI ${name} running`, async () => {
    const v = (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachineinstances', namespace: ctx.ns, name }).catch(() => undefined)) as { status?: { phase?: string } } | undefined;
    return v?.status?.phase === 'Running' ? true : undefined;
  }, 60_000);
}

async function backup(ctx: Ctx, name: string, spec: Record<string, unknown>): Promise<VirtualMachineBackupObject> {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name }, spec,
  } });
  return eventually(`backup ${name} to finish`, async () => {
    const j = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, name })) as VirtualMachineBackupObject;
    return j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed' ? j : undefined;
  }, 180_000);
}

const cond = (j: VirtualMachineBackupObject, type: string): string | undefined => {
  const c = j.status?.conditions?.find((x) => x.type === type);
  return c ? `${c.status}/${c.reason}` : undefined;
};

async function leftovers(ctx: Ctx, job: string): Promise<string[]> {
  const sel = `tresor.io/backup=${job}`;
  const pods = (await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: sel })).items.map((p) => `pod/${p.metadata?.name}`);
  const pvcs = (await core.listNamespacedPersistentVolumeClaim({ namespace: ctx.ns, labelSelector: sel })).items.map((p) => `pvc/${p.metadata?.name}`);
  const snaps = ((await custom.listNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots', namespace: ctx.ns, labelSelector: sel })) as { items: Array<{ metadata: { name: string } }> }).items.map((s) => `volumesnapshot/${s.metadata.name}`);
  return [...pods, ...pvcs, ...snaps];
}

async function noLeftovers(ctx: Ctx, job: string): Promise<void> {
  let last: string[] = [];
  await eventually(`children of ${job} to be gone`, async () => {
    last = await leftovers(ctx, job);
    return last.length === 0 ? true : undefined;
  }, 60_000).catch((err: unknown) => {
    throw new Error(`still there: ${last.join(', ')}`, { cause: err });
  });
}

function restore(ctx: Ctx, diskId: string, backupId: string): Buffer {
  const target = join(ctx.tmp, `restore-${diskId}-${backupId}`);
  const r = tresorCli(['disk', 'restore', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile, '--disk-id', diskId, '--backup', backupId, '--target', target]);
  assert.is(r.code, 0, r.stderr);
  const b = readFileSync(target);
  rmSync(target);
  return b;
}

async function events(ctx: Ctx, job: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: `involvedObject.name=${job}` })).items;
}

type DiskStatus = NonNullable<NonNullable<VirtualMachineBackupObject['status']>['disks']>[number];
const diskOf = (j: VirtualMachineBackupObject, name: string): DiskStatus => {
  const d = j.status?.disks?.find((x) => x.name === name);
  if (!d) throw new Error(`no disk ${name} in ${JSON.stringify(j.status)}`);
  return d;
};

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

t.run();
