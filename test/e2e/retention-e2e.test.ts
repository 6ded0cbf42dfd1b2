// Deleting recovery points end to end (ADR 0073), with the operator as a real process: a user's
// `kubectl delete recoverypoint` forgets its manifests in the vault before the object goes and GC then
// reclaims the blocks, leaving a vault that verifies clean; a vault with a retention lock keeps the point
// with a clear reason until the escape-hatch annotation releases it (data kept); a filesystem vault
// forgets through a short pod; a policy's retention
// (keepLast 1) deletes the older points of a VM and their manifests, never the newest, which restores
// byte for byte.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupVaultObject, RecoveryPointObject, VirtualMachineBackupObject } from '../../operator/src/api/types.ts';
import { eventually, kubectl, testEnv, uniqueSuffix } from '../harness.ts';
import { backup, core, createVm, custom, type Ctx, diskFile, operatorEnv, restore, setupEnv, teardownEnv, TRESOR, tresorCli, waitRunning, writeAt } from './backup-env.ts';
import { killAll, type Operator, startOperator, stop } from './operator-process.ts';

const MiB = 1 << 20;
const state = { op: undefined as Operator | undefined, lockedUrl: '' };
const t = suite<Ctx>('deleting recovery points forgets their data in the vault, safely');

async function pointOf(ctx: Ctx, job: string): Promise<RecoveryPointObject> {
  const l = (await custom.listNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, labelSelector: `tresor.io/backup=${job}` })) as { items: RecoveryPointObject[] };
  assert.is(l.items.length, 1, `recovery points of ${job}`);
  return l.items[0]!;
}

async function readPoint(ctx: Ctx, name: string): Promise<RecoveryPointObject | undefined> {
  return (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name }).catch(() => undefined)) as RecoveryPointObject | undefined;
}

/** Backup ids of one disk in a vault, through the CLI as a user would list them. */
function vaultBackups(ctx: Ctx, diskId: string, url = ctx.vaultUrl): string[] {
  const r = tresorCli(['disk', 'list', '--vault', url, '--key-file', ctx.keyFile, '--disk-id', diskId, '--json']);
  assert.is(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<{ backupId: string }>).map((b) => b.backupId).sort();
}

function verifyClean(ctx: Ctx): void {
  const r = tresorCli(['vault', 'verify', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile, '--read-data', '--json']);
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.ok((JSON.parse(r.stdout) as { ok: boolean }).ok, r.stdout);
}

function kubectlOk(args: string[]): string {
  const r = kubectl(args);
  assert.is(r.code, 0, r.stderr);
  return r.stdout;
}

async function pointGone(ctx: Ctx, name: string, timeoutMs = 120_000): Promise<void> {
  await eventually(`recovery point ${name} gone`, async () => ((await readPoint(ctx, name)) === undefined ? true : undefined), timeoutMs);
}

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('retention-e2e'));
  for (const vm of ['web', 'app']) await createVm(ctx, vm, { disks: [{ name: 'root', mode: 'Block', size: 4 * MiB }] });
  for (const vm of ['web', 'app']) {
    await waitRunning(ctx, vm);
    writeAt(await diskFile(ctx, `${vm}-root`, 'Block'), 0, randomBytes(2 * MiB));
  }
  // A second vault in the same bucket with a one-day retention lock.
  const env = testEnv();
  state.lockedUrl = `s3://${ctx.bucket}/locked?endpoint=${encodeURIComponent(env.s3.endpoint)}`;
  const init = tresorCli(['vault', 'init', '--vault', state.lockedUrl, '--key-file', ctx.keyFile, '--block-size', String(64 * 1024)]);
  assert.is(init.code, 0, init.stderr);
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'locked' },
    spec: { s3: { endpoint: env.s3.endpoint, bucket: ctx.bucket, prefix: 'locked', region: env.s3.region, credentialsSecretRef: { name: 's3' }, forcePathStyle: true }, encryption: { keySecretRef: { name: 'vault-key' } }, immutability: { retentionLockDays: 1 } },
  } });
  // GC soon after a forget, with no grace and no margin, so that the test sees blocks reclaimed by the second pass.
  state.op = await startOperator(operatorEnv(ctx, `retention-${uniqueSuffix()}`, { TRESOR_GC_DELAY_MS: '1000', TRESOR_GC_GRACE_MS: '0', TRESOR_GC_MARGIN_MS: '0' }));
  for (const name of ['vault', 'locked']) {
    await eventually(`vault ${name} Ready`, async () => {
      const v = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name })) as BackupVaultObject;
      return v.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined;
    }, 120_000);
  }
});

t.after(async () => {
  await stop(state.op);
  killAll();
});
t.after(async (ctx) => teardownEnv(ctx));

async function succeeded(ctx: Ctx, name: string, spec: Record<string, unknown>): Promise<VirtualMachineBackupObject> {
  const j = await backup(ctx, name, spec);
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  return j;
}

t('kubectl delete recoverypoint forgets its manifests; the other point still restores byte for byte; GC reclaims; verify is clean', async (ctx) => {
  await succeeded(ctx, 'web-1', { vmName: 'web', vaultRef: { name: 'vault' } });
  const disk = await diskFile(ctx, 'web-root', 'Block');
  writeAt(disk, MiB, randomBytes(MiB));
  await succeeded(ctx, 'web-2', { vmName: 'web', vaultRef: { name: 'vault' } });
  const [p1, p2] = [await pointOf(ctx, 'web-1'), await pointOf(ctx, 'web-2')];
  assert.ok(p1.metadata.finalizers?.includes('tresor.io/vault-data'), JSON.stringify(p1.metadata.finalizers));
  const diskId = p1.spec.disks[0]!.vaultDiskId;
  assert.equal(vaultBackups(ctx, diskId), [p1.spec.disks[0]!.manifestId, p2.spec.disks[0]!.manifestId].sort());
  kubectlOk(['-n', ctx.ns, 'delete', 'recoverypoints.tresor.io', p1.metadata.name!, '--wait=false']);
  await pointGone(ctx, p1.metadata.name!);
  assert.equal(vaultBackups(ctx, diskId), [p2.spec.disks[0]!.manifestId]);
  await eventually('a GC of the vault after the forget', async () => {
    const ev = await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'involvedObject.name=vault,reason=VaultGarbageCollected' });
    return ev.items.find((e) => e.type === 'Normal' && /GC deleted [1-9]/.test(e.message ?? '')) ? true : undefined;
  }, 120_000);
  verifyClean(ctx);
  assert.ok(restore(ctx, diskId, p2.spec.disks[0]!.manifestId).equals(readFileSync(disk)), 'the remaining point does not restore byte for byte');
  const ev = await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: `involvedObject.name=${p1.metadata.name}` });
  assert.ok(ev.items.some((e) => e.reason === 'VaultDataForgotten'), ev.items.map((e) => e.reason).join(','));
});

t('a vault\'s retention lock keeps a deleted point, with the reason and until when; the escape hatch releases it and keeps the data', async (ctx) => {
  await succeeded(ctx, 'web-locked', { vmName: 'web', vaultRef: { name: 'locked' } });
  const p = await pointOf(ctx, 'web-locked');
  const d = p.spec.disks[0]!;
  kubectlOk(['-n', ctx.ns, 'delete', 'recoverypoints.tresor.io', p.metadata.name!, '--wait=false']);
  const held = await eventually('VaultDataForgotten=False RetentionLocked', async () => {
    const o = await readPoint(ctx, p.metadata.name!);
    const c = o?.status?.conditions?.find((x) => x.type === 'VaultDataForgotten');
    return c?.status === 'False' && c.reason === 'RetentionLocked' ? { o, c } : undefined;
  }, 120_000);
  assert.match(held.c.message ?? '', /retention lock keeps this recovery point's data until \d{4}-\d\d-\d\dT/);
  assert.ok(held.o?.metadata.deletionTimestamp, 'the point is being deleted');
  assert.equal(vaultBackups(ctx, d.vaultDiskId, state.lockedUrl), [d.manifestId]);
  const ev = await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: `involvedObject.name=${p.metadata.name}` });
  assert.ok(ev.items.some((e) => e.reason === 'VaultDataRetained' && e.type === 'Warning'), ev.items.map((e) => e.reason).join(','));
  kubectlOk(['-n', ctx.ns, 'annotate', 'recoverypoints.tresor.io', p.metadata.name!, 'tresor.io/forget-vault-data=false']);
  await pointGone(ctx, p.metadata.name!);
  assert.equal(vaultBackups(ctx, d.vaultDiskId, state.lockedUrl), [d.manifestId], 'the escape hatch must not touch the vault');
});

t('a filesystem vault forgets through a pod: the deleted point\'s manifest is gone, the other stays, no pod left', async (ctx) => {
  const dir = join(ctx.tmp, 'fs-vault');
  const url = `file://${dir}`;
  const init = tresorCli(['vault', 'init', '--vault', url, '--key-file', ctx.keyFile, '--block-size', String(64 * 1024)]);
  assert.is(init.code, 0, init.stderr);
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'local' }, spec: { filesystem: { path: dir }, encryption: { keySecretRef: { name: 'vault-key' } } },
  } });
  await eventually('vault local Ready', async () => {
    const v = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name: 'local' })) as BackupVaultObject;
    return v.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined;
  }, 180_000);
  await succeeded(ctx, 'web-fs-1', { vmName: 'web', vaultRef: { name: 'local' } });
  await succeeded(ctx, 'web-fs-2', { vmName: 'web', vaultRef: { name: 'local' } });
  const [p1, p2] = [await pointOf(ctx, 'web-fs-1'), await pointOf(ctx, 'web-fs-2')];
  const diskId = p1.spec.disks[0]!.vaultDiskId;
  kubectlOk(['-n', ctx.ns, 'delete', 'recoverypoints.tresor.io', p1.metadata.name!, '--wait=false']);
  await pointGone(ctx, p1.metadata.name!, 240_000);
  assert.equal(vaultBackups(ctx, diskId, url), [p2.spec.disks[0]!.manifestId]);
  await eventually('no maintenance pod left', async () => {
    const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: 'tresor.io/role=vault-maintenance' });
    return pods.items.length === 0 ? true : undefined;
  }, 240_000);
});

t('a policy with keepLast 1 deletes the older points of a VM and their manifests; the newest restores byte for byte; verify is clean', async (ctx) => {
  const disk = await diskFile(ctx, 'app-root', 'Block');
  const gcs = async (): Promise<number> => (await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'involvedObject.name=vault,reason=VaultGarbageCollected' })).items.filter((e) => e.type === 'Normal').length;
  const gcsBefore = await gcs();
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'keep-one' },
    spec: { schedule: '0 0 1 1 *', vmSelector: { matchLabels: { 'kubevirt.io/vm': 'none' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 1 } },
  } });
  // Three backups of app under the policy, its disk changed between them (each leaves blocks only it uses).
  const jobs: string[] = [];
  for (const n of [1, 2, 3]) {
    writeAt(disk, (n - 1) * MiB, randomBytes(MiB / 2));
    jobs.push(`app-keep-${n}`);
    await succeeded(ctx, `app-keep-${n}`, { vmName: 'app', policyRef: { name: 'keep-one' } });
  }
  // The policy's pass after the third backup deletes the first two (a run-now would add a fourth: not needed,
  // each job's end wakes the policy).
  const kept = await eventually('one point of app left', async () => {
    const l = (await custom.listNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, labelSelector: 'tresor.io/vm=app' })) as { items: RecoveryPointObject[] };
    return l.items.length === 1 ? l.items[0]! : undefined;
  }, 180_000);
  assert.is(kept.spec.sourceBackup, 'app-keep-3', 'the newest point must be the one kept');
  const d = kept.spec.disks[0]!;
  await eventually('only the newest manifest of app in the vault', async () => (vaultBackups(ctx, d.vaultDiskId).join() === d.manifestId ? true : undefined), 60_000);
  await eventually('a GC after the retention deletes', async () => ((await gcs()) > gcsBefore ? true : undefined), 120_000);
  verifyClean(ctx);
  assert.ok(restore(ctx, d.vaultDiskId, d.manifestId).equals(readFileSync(disk)), 'the newest point does not restore byte for byte');
  const ev = await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'reason=RecoveryPointDeleted' });
  assert.ok(ev.items.length >= 2, ev.items.map((e) => e.involvedObject.name).join(','));
});

t.run();
