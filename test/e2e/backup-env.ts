// What the backup end-to-end suites stand on: a namespace with the snapshot pod's RBAC, an S3 vault
// initialised with a known key, the local node agent, and helpers to create VMs with disks whose bytes
// the test writes, run a backup job to its end, restore a disk from the vault and find leftovers.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, type CoreV1Event } from '@kubernetes/client-node';
import * as assert from 'uvu/assert';
import { installCrds } from '../../operator/src/api/install.ts';
import type { VirtualMachineBackupObject } from '../../operator/src/api/types.ts';
import { startAgentProcess, type AgentProcess } from '../../hack/node-agent/testing.ts';
import { createBucket, createNamespace, deleteBucket, deleteNamespace, eventually, kubeConfig, kubectl, testEnv, uniqueSuffix } from '../harness.ts';

export const kc = kubeConfig();
export const core = kc.makeApiClient(CoreV1Api);
export const custom = kc.makeApiClient(CustomObjectsApi);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
export const TRESOR = { group: 'tresor.io', version: 'v1alpha1' };
export const KV = { group: 'kubevirt.io', version: 'v1' };
export const BLOCK = 64 * 1024;
export const DISK = 32 * 1024 * 1024;
const TRESOR_BIN = new URL('../../operator/bin/tresor.js', import.meta.url).pathname;

/** One suite's environment. */
export interface Ctx {
  ns: string;
  node: string;
  bucket: string;
  vaultUrl: string;
  keyFile: string;
  tmp: string;
  agent: AgentProcess | undefined;
}

/** Runs the tresor CLI of this repository. */
export function tresorCli(args: readonly string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TRESOR_BIN, ...args], { encoding: 'utf8', env: process.env, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A ServiceAccount with a Role of `rules`, bound in `ns`. */
async function serviceAccount(ns: string, name: string, rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>): Promise<void> {
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name }, rules } });
  await rbac.createNamespacedRoleBinding({ namespace: ns, body: {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
  } });
}

async function setupRbac(ns: string): Promise<void> {
  // The transfer pods report progress in an Event on their own pod (ADR 0052): events only, no pod access.
  await serviceAccount(ns, 'tresor-transfer', [{ apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] }]);
  await serviceAccount(ns, 'tresor-snapshot', [
    { apiGroups: ['snapshot.storage.k8s.io'], resources: ['volumesnapshots'], verbs: ['get', 'list', 'create'] },
    { apiGroups: ['subresources.kubevirt.io'], resources: ['virtualmachineinstances/freeze', 'virtualmachineinstances/unfreeze'], verbs: ['update'] },
  ]);
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

/** Starts the node agent, installs the CRDs, and creates the namespace, RBAC, bucket and vault. */
export async function setupEnv(prefix: string): Promise<Ctx> {
  const ctx: Ctx = { ns: '', node: `${prefix}-${uniqueSuffix()}`, bucket: '', vaultUrl: '', keyFile: '', tmp: '', agent: undefined };
  ctx.agent = await startAgentProcess({ nodeName: ctx.node });
  await installCrds((args) => kubectl(args));
  ctx.ns = await createNamespace(prefix);
  ctx.bucket = await createBucket(prefix);
  ctx.tmp = mkdtempSync(join(tmpdir(), `${prefix}-`));
  ctx.keyFile = join(ctx.tmp, 'vault.key');
  await setupRbac(ctx.ns);
  await setupVault(ctx);
  return ctx;
}

const TRESOR_PLURALS = ['virtualmachinebackups', 'virtualmachinerestores', 'recoverypoints', 'backuppolicies', 'backupvaults'];

/**
 * The suites stop their operator before tearing down, so nothing would release Tresor's finalizers and
 * the namespace would stay Terminating in a shared environment: release them here, as a test's last act.
 */
async function releaseTresorFinalizers(ns: string): Promise<void> {
  for (const plural of TRESOR_PLURALS) {
    const list = (await custom.listNamespacedCustomObject({ ...TRESOR, plural, namespace: ns }).catch(() => ({ items: [] }))) as { items: Array<{ metadata: { name: string; finalizers?: string[] } }> };
    for (const o of list.items.filter((i) => i.metadata.finalizers?.length)) {
      await custom.patchNamespacedCustomObject({ ...TRESOR, plural, namespace: ns, name: o.metadata.name, body: { metadata: { finalizers: null } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch)).catch(() => undefined);
    }
  }
}

/** Removes what setupEnv created. */
export async function teardownEnv(ctx: Ctx): Promise<void> {
  // E2E_KEEP=1 leaves the namespace, agent state and bucket for a post-mortem (the agent still stops).
  if (process.env.E2E_KEEP) {
    process.stderr.write(`kept: namespace ${ctx.ns}, bucket ${ctx.bucket}, agent state ${ctx.agent?.stateDir}\n`);
    await ctx.agent?.stop();
    return;
  }
  if (ctx.ns) {
    await deleteNamespace(ctx.ns);
    await releaseTresorFinalizers(ctx.ns);
    // The agent still runs meanwhile: it releases the VolumeSnapshots' finalizers as it deletes their bytes.
    await eventually(`namespace ${ctx.ns} to go`, () => core.readNamespace({ name: ctx.ns }).then(() => undefined, () => true), 60_000).catch(() => undefined);
  }
  await ctx.agent?.stop();
  if (ctx.bucket) await deleteBucket(ctx.bucket).catch(() => undefined);
  if (ctx.tmp) rmSync(ctx.tmp, { recursive: true, force: true });
}

/** The operator's environment for this suite (TRESOR_* variables). */
export function operatorEnv(ctx: Ctx, executorId: string, extra: Record<string, string> = {}): Record<string, string> {
  const pg = new URL(testEnv().pgUrl);
  pg.pathname = `/tresor_${ctx.node.replace(/-/g, '_')}`;
  return {
    TRESOR_PG_URL: pg.toString(), TRESOR_EXECUTOR_ID: executorId, TRESOR_WATCH_NAMESPACE: ctx.ns, TRESOR_OPS_PORT: '0',
    TRESOR_SNAPSHOT_SERVICE_ACCOUNT: 'tresor-snapshot', TRESOR_TRANSFER_SERVICE_ACCOUNT: 'tresor-transfer', TRESOR_POD_NODE_SELECTOR: `kubernetes.io/hostname=${ctx.node}`,
    TRESOR_MAX_CONCURRENT_TRANSFERS: '4', TRESOR_POD_PENDING_TIMEOUT_MS: '120000', TRESOR_VERBOSE: process.env.E2E_VERBOSE ?? '',
    // The suite's own temp directory is the one host path its namespace may keep vaults in (ADR 0090).
    TRESOR_FILESYSTEM_VAULTS: `${ctx.ns}:${ctx.tmp}`, ...extra,
  };
}

export interface DiskDef {
  name: string;
  mode: 'Block' | 'Filesystem';
  size: number;
}

export async function createVm(ctx: Ctx, name: string, o: { disks: DiskDef[]; guest?: Record<string, unknown>; running?: boolean }): Promise<void> {
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
export async function diskFile(ctx: Ctx, pvc: string, mode: 'Block' | 'Filesystem'): Promise<string> {
  return eventually(`PVC ${pvc} bound`, async () => {
    const c = await core.readNamespacedPersistentVolumeClaim({ namespace: ctx.ns, name: pvc });
    if (!c.spec?.volumeName || c.status?.phase !== 'Bound') return undefined;
    const pv = await core.readPersistentVolume({ name: c.spec.volumeName });
    const handle = pv.spec!.csi!.volumeHandle;
    return mode === 'Block' ? handle : join(handle, 'disk.img');
  }, 30_000);
}

export function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export async function waitRunning(ctx: Ctx, name: string): Promise<void> {
  await eventually(`VMI ${name} running`, async () => {
    const v = (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachineinstances', namespace: ctx.ns, name }).catch(() => undefined)) as { status?: { phase?: string } } | undefined;
    return v?.status?.phase === 'Running' ? true : undefined;
  }, 60_000);
}

/** Creates a VirtualMachineBackup. */
export async function createJob(ctx: Ctx, name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name }, spec,
  } });
}

/** Reads a VirtualMachineBackup. */
export async function readJob(ctx: Ctx, name: string): Promise<VirtualMachineBackupObject> {
  return (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, name })) as VirtualMachineBackupObject;
}

/** Waits until the job is Succeeded or Failed. */
export async function waitJob(ctx: Ctx, name: string, timeoutMs = 180_000): Promise<VirtualMachineBackupObject> {
  return eventually(`backup ${name} to finish`, async () => {
    const j = await readJob(ctx, name);
    return j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed' ? j : undefined;
  }, timeoutMs);
}

/** Creates a job and waits for its end. */
export async function backup(ctx: Ctx, name: string, spec: Record<string, unknown>): Promise<VirtualMachineBackupObject> {
  await createJob(ctx, name, spec);
  return waitJob(ctx, name);
}

export const cond = (j: VirtualMachineBackupObject, type: string): string | undefined => {
  const c = j.status?.conditions?.find((x) => x.type === type);
  return c ? `${c.status}/${c.reason}` : undefined;
};

export async function leftovers(ctx: Ctx, job: string): Promise<string[]> {
  const sel = `tresor.io/backup=${job}`;
  const pods = (await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: sel })).items.map((p) => `pod/${p.metadata?.name}`);
  const pvcs = (await core.listNamespacedPersistentVolumeClaim({ namespace: ctx.ns, labelSelector: sel })).items.map((p) => `pvc/${p.metadata?.name}`);
  const snaps = ((await custom.listNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots', namespace: ctx.ns, labelSelector: sel })) as { items: Array<{ metadata: { name: string } }> }).items.map((s) => `volumesnapshot/${s.metadata.name}`);
  return [...pods, ...pvcs, ...snaps];
}

export async function noLeftovers(ctx: Ctx, job: string): Promise<void> {
  let last: string[] = [];
  await eventually(`children of ${job} to be gone`, async () => {
    last = await leftovers(ctx, job);
    return last.length === 0 ? true : undefined;
  }, 60_000).catch((err: unknown) => {
    throw new Error(`still there: ${last.join(', ')}`, { cause: err });
  });
}

export function restore(ctx: Ctx, diskId: string, backupId: string): Buffer {
  const target = join(ctx.tmp, `restore-${diskId}-${backupId}`);
  const r = tresorCli(['disk', 'restore', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile, '--disk-id', diskId, '--backup', backupId, '--target', target]);
  assert.is(r.code, 0, r.stderr);
  const b = readFileSync(target);
  rmSync(target);
  return b;
}

export async function events(ctx: Ctx, job: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: `involvedObject.name=${job}` })).items;
}

export type DiskStatus = NonNullable<NonNullable<VirtualMachineBackupObject['status']>['disks']>[number];
export const diskOf = (j: VirtualMachineBackupObject, name: string): DiskStatus => {
  const d = j.status?.disks?.find((x) => x.name === name);
  if (!d) throw new Error(`no disk ${name} in ${JSON.stringify(j.status)}`);
  return d;
};

/** What the first backup leaves for the incremental one. */
