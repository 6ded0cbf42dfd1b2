// BackupPolicy and BackupVault end to end with the operator as a real process: the vault goes Ready
// through the operator's own check; a policy on `* * * * *` selecting 2 of 3 VMs creates one job per
// selected VM per slot (labelled, slot-annotated, no owner), they succeed, the policy's status shows 2
// protected VMs and the last success; a run-now annotation backs up both VMs once and is consumed; a
// filesystem vault is checked by a pod; retention (keepLast 1) deletes the older recovery points and
// never the newest; suspend stops new jobs; a policy naming a missing vault is Ready=False VaultNotFound.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupPolicyObject, BackupVaultObject, RecoveryPointObject, VirtualMachineBackupObject } from '../../operator/src/api/types.ts';
import { eventually, kubectl, uniqueSuffix } from '../harness.ts';
import { core, createVm, custom, type Ctx, diskFile, operatorEnv, setupEnv, teardownEnv, TRESOR, tresorCli, waitJob, waitRunning, writeAt } from './backup-env.ts';
import { killAll, type Operator, startOperator, stop } from './operator-process.ts';

const MiB = 1 << 20;
const POLICY = 'every-minute';
const state = { op: undefined as Operator | undefined };
const t = suite<Ctx>('policies schedule backups of the VMs they select; vaults report readiness');

async function policyJobs(ctx: Ctx): Promise<VirtualMachineBackupObject[]> {
  const l = (await custom.listNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, labelSelector: `tresor.io/policy=${POLICY}` })) as { items: VirtualMachineBackupObject[] };
  return l.items;
}

async function readPolicy(ctx: Ctx, name: string): Promise<BackupPolicyObject> {
  return (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, name })) as BackupPolicyObject;
}

async function createPolicy(ctx: Ctx, name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: { apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name }, spec } });
}

const ready = (o: { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } }): string | undefined => {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return c ? `${c.status}/${c.reason}` : undefined;
};

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('policy-e2e'));
  for (const [vm, tier] of [['web', 'prod'], ['db', 'prod'], ['dev', 'dev']] as const) {
    await createVm(ctx, vm, { disks: [{ name: 'root', mode: 'Block', size: 4 * MiB }] });
    const r = kubectl(['-n', ctx.ns, 'label', 'virtualmachines.kubevirt.io', vm, `tier=${tier}`]);
    assert.is(r.code, 0, r.stderr);
  }
  for (const vm of ['web', 'db', 'dev']) {
    await waitRunning(ctx, vm);
    writeAt(await diskFile(ctx, `${vm}-root`, 'Block'), 0, Buffer.from(`${vm} `.repeat(1000)));
  }
  state.op = await startOperator(operatorEnv(ctx, `policy-${uniqueSuffix()}`));
});

t.after(async (ctx) => {
  await stop(state.op);
  killAll();
  await teardownEnv(ctx);
});

t('the operator checks the vault and reports it Ready with its id', async (ctx) => {
  const v = await eventually('vault Ready', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name: 'vault' })) as BackupVaultObject;
    return ready(o) === 'True/VaultReady' ? o : undefined;
  }, 120_000);
  assert.match(v.status?.repositoryId ?? '', /^[0-9a-f]{32}$/);
  assert.is(v.status?.backend, `s3://${ctx.bucket}/vms`);
});

t('a filesystem vault is checked by a pod: Ready with its id, WrongKey with another key, no pod left', async (ctx) => {
  const dir = join(ctx.tmp, 'fs-vault');
  const init = tresorCli(['vault', 'init', '--vault', `file://${dir}`, '--key-file', ctx.keyFile]);
  assert.is(init.code, 0, init.stderr);
  await core.createNamespacedSecret({ namespace: ctx.ns, body: { metadata: { name: 'other-key' }, stringData: { key: randomBytes(32).toString('hex') } } });
  for (const [name, key] of [['local', 'vault-key'], ['local-wrong', 'other-key']]) {
    await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, body: {
      apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name }, spec: { filesystem: { path: dir }, encryption: { keySecretRef: { name: key } } },
    } });
  }
  const vaultIn = async (name: string, want: string): Promise<BackupVaultObject> => eventually(`vault ${name} ${want}`, async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name })) as BackupVaultObject;
    return ready(o) === want ? o : undefined;
  }, 180_000);
  const good = await vaultIn('local', 'True/VaultReady');
  assert.is(good.status?.repositoryId, /created vault ([0-9a-f]{32})/.exec(init.stdout)?.[1], init.stdout);
  assert.is(good.status?.backend, `file://${dir}`);
  const wrong = await vaultIn('local-wrong', 'False/WrongKey');
  assert.match(wrong.status?.conditions?.[0]?.message ?? '', /restore the original key/);
  await eventually('no check pods left', async () => {
    const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: 'tresor.io/role=vault-check' });
    return pods.items.length === 0 ? true : undefined;
  }, 60_000);
});

t('a policy on every minute backs up exactly the 2 selected VMs, and its status says so', async (ctx) => {
  await createPolicy(ctx, POLICY, { schedule: '* * * * *', allowFrequentSchedule: true, vmSelector: { matchLabels: { tier: 'prod' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 1 } });
  const first = await eventually('a job for web and for db', async () => {
    const jobs = await policyJobs(ctx);
    const byVm = (vm: string): VirtualMachineBackupObject | undefined => jobs.find((j) => j.spec.vmName === vm);
    return byVm('web') && byVm('db') ? [byVm('web')!, byVm('db')!] : undefined;
  }, 180_000);
  for (const j of first) {
    assert.is(j.spec.policyRef?.name, POLICY);
    assert.match(j.metadata.annotations?.['tresor.io/scheduled-time'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
    assert.is(j.metadata.ownerReferences, undefined, 'jobs are not owned by the policy');
    const done = await waitJob(ctx, j.metadata.name!, 300_000);
    assert.is(done.status?.phase, 'Succeeded', JSON.stringify(done.status?.conditions));
  }
  assert.ok((await policyJobs(ctx)).every((j) => j.spec.vmName !== 'dev'), 'the dev VM is not selected');
  const p = await eventually('policy status with the last success', async () => {
    const o = await readPolicy(ctx, POLICY);
    return o.status?.lastSuccessfulBackupTime && o.status.protectedVMs === 2 ? o : undefined;
  }, 120_000);
  assert.is(ready(p), 'True/Active');
  assert.ok(p.status?.nextScheduleTime && p.status.lastScheduleTime, JSON.stringify(p.status));
  await eventually('the vault counts the recovery points', async () => {
    const v = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name: 'vault' })) as BackupVaultObject;
    return (v.status?.recoveryPoints ?? 0) >= 2 ? true : undefined;
  }, 60_000);
  const ev = await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: `involvedObject.name=${POLICY}` });
  assert.ok(ev.items.some((e) => e.reason === 'BackupScheduled'), ev.items.map((e) => e.reason).join(','));
});

t('run-now: an annotation backs up every protected VM now, once, and is consumed', async (ctx) => {
  kubectlOk(['-n', ctx.ns, 'annotate', 'backuppolicies.tresor.io', POLICY, 'tresor.io/run-now=e2e1']);
  const jobs = await eventually('run-now jobs of web and db, annotation removed', async () => {
    const p = await readPolicy(ctx, POLICY);
    const js = (await policyJobs(ctx)).filter((j) => j.metadata.annotations?.['tresor.io/run-now'] === 'e2e1');
    return js.length === 2 && !p.metadata.annotations?.['tresor.io/run-now'] ? js : undefined;
  }, 240_000);
  assert.equal(jobs.map((j) => j.metadata.name).sort(), [`${POLICY}-db-now-e2e1`, `${POLICY}-web-now-e2e1`]);
  for (const j of jobs) {
    const done = await waitJob(ctx, j.metadata.name!, 300_000);
    assert.is(done.status?.phase, 'Succeeded', JSON.stringify(done.status?.conditions));
  }
});

t('retention keepLast 1 deletes the older recovery points of a VM, never the newest', async (ctx) => {
  const seen = await eventually('web down to one point after two successful backups', async () => {
    const done = (await policyJobs(ctx)).filter((j) => j.spec.vmName === 'web' && j.status?.phase === 'Succeeded');
    const l = (await custom.listNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, labelSelector: `tresor.io/policy=${POLICY}` })) as { items: RecoveryPointObject[] };
    const web = l.items.filter((p) => p.spec.vmName === 'web' && !p.metadata.deletionTimestamp);
    return done.length >= 2 && web.length === 1 ? { done, kept: web[0]! } : undefined;
  }, 360_000);
  // Jobs read before the points: the kept point is the newest of them, or one that finished in between.
  const older = seen.done.sort((a, b) => (a.status?.completionTime ?? '').localeCompare(b.status?.completionTime ?? '')).slice(0, -1).map((j) => j.metadata.name);
  assert.not.ok(older.includes(seen.kept.spec.sourceBackup), `kept ${seen.kept.spec.sourceBackup}, an older point than the newest`);
  const ev = await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'reason=RecoveryPointDeleted' });
  assert.ok(ev.items.length >= 1, 'no RecoveryPointDeleted event');
});

t('suspend stops new jobs: after the policy reports Suspended, a whole slot passes without one', async (ctx) => {
  kubectlOk(['-n', ctx.ns, 'patch', 'backuppolicies.tresor.io', POLICY, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
  await eventually('policy Suspended', async () => (ready(await readPolicy(ctx, POLICY)) === 'True/Suspended' ? true : undefined), 120_000);
  const before = (await policyJobs(ctx)).map((j) => j.metadata.name).sort();
  // Wait past the next minute boundary (plus margin for a slow pass): a slot that would have run.
  const nextMinute = Math.ceil(Date.now() / 60_000) * 60_000;
  await new Promise((r) => setTimeout(r, nextMinute - Date.now() + 30_000));
  const after = (await policyJobs(ctx)).map((j) => j.metadata.name).sort();
  assert.equal(after, before);
  assert.is((await readPolicy(ctx, POLICY)).status?.nextScheduleTime, undefined);
});

t('a policy naming a missing vault is Ready=False VaultNotFound and creates nothing', async (ctx) => {
  await createPolicy(ctx, 'orphan', { schedule: '* * * * *', allowFrequentSchedule: true, vmSelector: {}, vaultRef: { name: 'no-such-vault' }, retention: { daily: 7 } });
  const p = await eventually('orphan VaultNotFound', async () => {
    const o = await readPolicy(ctx, 'orphan');
    return ready(o) === 'False/VaultNotFound' ? o : undefined;
  }, 120_000);
  const c = p.status?.conditions?.find((x) => x.type === 'Ready');
  assert.match(c?.message ?? '', /no-such-vault/);
  const l = (await custom.listNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, labelSelector: 'tresor.io/policy=orphan' })) as { items: unknown[] };
  assert.is(l.items.length, 0);
});

function kubectlOk(args: string[]): void {
  const r = kubectl(args);
  assert.is(r.code, 0, r.stderr);
}

t.run();
