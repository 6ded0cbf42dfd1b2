// Backup jobs when things go wrong, end to end with the operator as a real process: SIGKILL it during the
// snapshot step, during the transfers and right after the recovery point; restart it (same executor ID:
// DBOS recovers its own workflows) or start a successor under leader election (another executor ID: the
// new leader re-enqueues the old leader's workflows). Each job still ends Succeeded with nothing leaked
// and a vault that verifies clean. Also: transfer pods of one job really run at the same time, a limit
// of 1 serialises them, and deleting an in-flight job cancels it and removes its children.
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, uniqueSuffix } from '../harness.ts';
import {
  core, createJob, createVm, custom, type Ctx, diskFile, noLeftovers, operatorEnv, readJob, setupEnv, teardownEnv, TRESOR, tresorCli, waitJob,
  waitRunning, writeAt,
} from './backup-env.ts';
import { killAll, kill9, type Operator, startOperator, stop } from './operator-process.ts';

const MiB = 1 << 20;

async function podsWithRole(ctx: Ctx, job: string, role: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `tresor.io/backup=${job},tresor.io/role=${role}` });
  return pods.items.map((p) => p.metadata!.name!);
}

async function waitForPod(ctx: Ctx, job: string, role: string): Promise<string> {
  return eventually(`a ${role} pod of ${job}`, async () => (await podsWithRole(ctx, job, role))[0], 120_000);
}

/** Polls the job's transfer pods and keeps each one's [startedAt, finishedAt] once it terminated. */
function recordTransfers(ctx: Ctx, job: string): { stop(): Map<string, [number, number]> } {
  const seen = new Map<string, [number, number]>();
  let on = true;
  const loop = async (): Promise<void> => {
    while (on) {
      const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `tresor.io/backup=${job},tresor.io/role=transfer` }).catch(() => undefined);
      for (const p of pods?.items ?? []) {
        const term = p.status?.containerStatuses?.[0]?.state?.terminated;
        if (term?.startedAt && term.finishedAt) seen.set(p.metadata!.name!, [new Date(term.startedAt).getTime(), new Date(term.finishedAt).getTime()]);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  void loop();
  return { stop: () => ((on = false), seen) };
}

const overlaps = (a: [number, number], b: [number, number]): boolean => a[0] < b[1] && b[0] < a[1];

const state = { op: undefined as Operator | undefined, executor: '' };
const t = suite<Ctx>('backup jobs survive operator crashes (SIGKILL, leader takeover), limits and cancellation');

async function slowVm(ctx: Ctx, name: string, guest?: Record<string, unknown>): Promise<void> {
  await createVm(ctx, name, { disks: [{ name: 'a', mode: 'Block', size: 8 * MiB }, { name: 'b', mode: 'Block', size: 8 * MiB }], ...(guest ? { guest } : {}) });
  await waitRunning(ctx, name);
  for (const d of ['a', 'b']) writeAt(await diskFile(ctx, `${name}-${d}`, 'Block'), 0, randomBytes(8 * MiB));
}

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('backup-faults'));
  state.executor = `faults-${uniqueSuffix()}`;
  state.op = await startOperator(operatorEnv(ctx, state.executor));
  // Transfers limited to 1 MB/s per disk: 8 MiB of random data keeps each transfer pod busy for ~8 s.
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'slow' },
    spec: { schedule: '0 3 * * *', vmSelector: { matchLabels: { app: 'none' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 3 }, suspend: true, transfer: { bandwidthLimit: '1M' } },
  } });
});

t.after(async (ctx) => {
  await stop(state.op);
  killAll();
  await teardownEnv(ctx);
});

async function assertConverged(ctx: Ctx, job: string): Promise<void> {
  const j = await waitJob(ctx, job, 240_000);
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  const rp = await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: j.status!.recoveryPointName! });
  assert.ok(rp);
  await noLeftovers(ctx, job);
}

t('SIGKILL during the snapshot step: the restarted operator adopts the snapshot pod and the job succeeds', async (ctx) => {
  await slowVm(ctx, 'snapkill', { freezeDelaySeconds: 3 });
  await createJob(ctx, 'snapkill-1', { vmName: 'snapkill', policyRef: { name: 'slow' } });
  await waitForPod(ctx, 'snapkill-1', 'snapshot');
  await kill9(state.op!);
  state.op = await startOperator(operatorEnv(ctx, state.executor));
  await assertConverged(ctx, 'snapkill-1');
  const j = await readJob(ctx, 'snapkill-1');
  assert.is(j.status?.consistency?.level, 'FileSystemConsistent', 'the freeze of the first (adopted) snapshot pod counts');
});

t('SIGKILL during the transfers: the restarted operator adopts the transfer pods; they run at the same time', async (ctx) => {
  await slowVm(ctx, 'xferkill');
  const rec = recordTransfers(ctx, 'xferkill-1');
  await createJob(ctx, 'xferkill-1', { vmName: 'xferkill', policyRef: { name: 'slow' } });
  // Both pods exist before the kill: on a loaded machine the restart can take longer than one transfer,
  // and a pod created only after it could not overlap the other (CI saw exactly that).
  await eventually('both transfer pods of xferkill-1', async () => ((await podsWithRole(ctx, 'xferkill-1', 'transfer')).length === 2 ? true : undefined), 120_000);
  await kill9(state.op!);
  state.op = await startOperator(operatorEnv(ctx, state.executor));
  await assertConverged(ctx, 'xferkill-1');
  const spans = [...rec.stop().entries()];
  const names = spans.map(([n]) => n).sort();
  assert.equal(names, ['xferkill-1-a-xfer-0', 'xferkill-1-b-xfer-0'], 'one pod per disk, adopted rather than re-created');
  assert.ok(overlaps(spans[0]![1], spans[1]![1]), `the two transfer pods overlapped in time: ${JSON.stringify(spans)}`);
});

t('SIGKILL right after the recovery point: the restart finishes cleanup and nothing leaks', async (ctx) => {
  await slowVm(ctx, 'rpkill');
  await createJob(ctx, 'rpkill-1', { vmName: 'rpkill', policyRef: { name: 'slow' } });
  await eventually('the recovery point', async () => custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: 'rpkill-1' }).catch(() => undefined), 120_000);
  await kill9(state.op!);
  state.op = await startOperator(operatorEnv(ctx, state.executor));
  await assertConverged(ctx, 'rpkill-1');
});

t('a successor under leader election (another executor ID) takes over the dead leader\'s job', async (ctx) => {
  await stop(state.op);
  const lease = { TRESOR_LEASE_NAMESPACE: ctx.ns };
  const a = `leader-a-${uniqueSuffix()}`;
  state.op = await startOperator(operatorEnv(ctx, a, lease));
  await slowVm(ctx, 'takeover');
  await createJob(ctx, 'takeover-1', { vmName: 'takeover', policyRef: { name: 'slow' } });
  await waitForPod(ctx, 'takeover-1', 'transfer');
  await kill9(state.op);
  state.executor = `leader-b-${uniqueSuffix()}`;
  state.op = await startOperator(operatorEnv(ctx, state.executor, lease));
  await assertConverged(ctx, 'takeover-1');
});

t('with the transfer limit at 1, the two disks\' pods never overlap', async (ctx) => {
  await stop(state.op);
  state.op = await startOperator(operatorEnv(ctx, state.executor, { TRESOR_MAX_CONCURRENT_TRANSFERS: '1' }));
  await slowVm(ctx, 'serial');
  const rec = recordTransfers(ctx, 'serial-1');
  await createJob(ctx, 'serial-1', { vmName: 'serial', policyRef: { name: 'slow' } });
  await assertConverged(ctx, 'serial-1');
  const spans = [...rec.stop().values()];
  assert.is(spans.length, 2);
  assert.not.ok(overlaps(spans[0]!, spans[1]!), `serialised: ${JSON.stringify(spans)}`);
});

t('deleting an in-flight job cancels it, removes its children, then the job itself', async (ctx) => {
  await slowVm(ctx, 'cancel');
  await createJob(ctx, 'cancel-1', { vmName: 'cancel', policyRef: { name: 'slow' } });
  await waitForPod(ctx, 'cancel-1', 'transfer');
  await custom.deleteNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, name: 'cancel-1' });
  await eventually('the job to be gone', async () => readJob(ctx, 'cancel-1').then(() => undefined, () => true), 60_000);
  await noLeftovers(ctx, 'cancel-1');
  // The cancelled workflow must not come back and create more children.
  await new Promise((r) => setTimeout(r, 3000));
  await noLeftovers(ctx, 'cancel-1');
  const rp = await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: 'cancel-1' }).catch(() => undefined);
  assert.is(rp, undefined, 'no recovery point for a cancelled job');
});

t('after all of it, the vault verifies clean', (ctx) => {
  const r = tresorCli(['vault', 'verify', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile]);
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^OK/);
});

t.run();
