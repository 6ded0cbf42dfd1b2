// Backup jobs when the DBOS database goes away, end to end with the operator as a real process on a
// private Postgres cluster (so stopping it never touches the shared one other suites use): Postgres
// stopped for ~20 s while the transfer pods run, then started again; and the DBOS database dropped while
// a job is in flight (operator SIGKILLed, DROP DATABASE ... WITH (FORCE), operator restarted, so the
// workflow starts over from nothing and its steps adopt the children they find); and the operator
// restarted while Postgres is down (it exits 1 until the database is back); and the database dropped
// under a running operator (it exits 1, and the restart runs the job again). Each job still ends
// Succeeded with nothing leaked, and the vault verifies clean.
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, uniqueSuffix } from '../harness.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../postgres.ts';
import {
  core, createJob, createVm, custom, type Ctx, diskFile, noLeftovers, operatorEnv, readJob, setupEnv, teardownEnv, TRESOR, tresorCli, waitJob,
  waitRunning, writeAt,
} from './backup-env.ts';
import { killAll, kill9, type Operator, startOperator, stop } from './operator-process.ts';

const MiB = 1 << 20;
// 2 MiB/s per disk (the slow policy) over 24 MiB of random data: each transfer pod is busy for ~12 s.
const DISK_BYTES = 24 * MiB;
const DBOS_DB = 'tresor_dbos';
const OUTAGE_MS = 20_000;

const state = { op: undefined as Operator | undefined, pg: undefined as PrivatePostgres | undefined, executor: '' };
const t = suite<Ctx>('backup jobs survive a Postgres outage and the loss of the DBOS database');

const env = (ctx: Ctx): Record<string, string> => operatorEnv(ctx, state.executor, { TRESOR_PG_URL: state.pg!.url(DBOS_DB) });

async function slowVm(ctx: Ctx, name: string): Promise<void> {
  await createVm(ctx, name, { disks: [{ name: 'a', mode: 'Block', size: DISK_BYTES }, { name: 'b', mode: 'Block', size: DISK_BYTES }] });
  await waitRunning(ctx, name);
  for (const d of ['a', 'b']) writeAt(await diskFile(ctx, `${name}-${d}`, 'Block'), 0, randomBytes(DISK_BYTES));
}

async function podNames(ctx: Ctx, job: string, role: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `tresor.io/backup=${job},tresor.io/role=${role}` });
  return pods.items.map((p) => p.metadata!.name!).sort();
}

/** Polls the names of the job's transfer pods until stopped (they are deleted at cleanup). */
function recordTransferPods(ctx: Ctx, job: string): { stop(): string[] } {
  const seen = new Set<string>();
  let on = true;
  void (async () => {
    while (on) {
      for (const n of await podNames(ctx, job, 'transfer').catch(() => [])) seen.add(n);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return { stop: () => ((on = false), [...seen].sort()) };
}

/** Waits until a transfer pod of the job runs (its container started), so the transfers are under way. */
async function waitTransferRunning(ctx: Ctx, job: string): Promise<void> {
  await eventually(`a running transfer pod of ${job}`, async () => {
    const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `tresor.io/backup=${job},tresor.io/role=transfer` });
    return pods.items.some((p) => p.status?.containerStatuses?.[0]?.state?.running) ? true : undefined;
  }, 180_000);
}

async function assertSucceeded(ctx: Ctx, job: string): Promise<void> {
  const j = await waitJob(ctx, job, 400_000);
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  const rp = await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: j.status!.recoveryPointName! });
  assert.ok(rp);
  await noLeftovers(ctx, job);
}

const alive = (op: Operator | undefined): boolean => !!op && op.child.exitCode === null && op.child.signalCode === null;

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('backup-pg'));
  state.pg = await startPrivatePostgres();
  state.executor = `pg-${uniqueSuffix()}`;
  state.op = await startOperator(env(ctx));
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'slow' },
    spec: { schedule: '0 3 * * *', vmSelector: { matchLabels: { app: 'none' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 3 }, suspend: true, transfer: { bandwidthLimit: '2M' } },
  } });
});

t.after(async (ctx) => {
  await stop(state.op);
  killAll();
  state.pg?.remove();
  await teardownEnv(ctx);
});

t('Postgres stopped for ~20 s while the transfers run and end: the operator rides it out and the job succeeds', async (ctx) => {
  await slowVm(ctx, 'outage');
  await createJob(ctx, 'outage-1', { vmName: 'outage', policyRef: { name: 'slow' } });
  await waitTransferRunning(ctx, 'outage-1');
  state.pg!.stop();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  // The outage lasts until both transfer pods have ended, so each transfer step finishes while the
  // database is down and must record its result once it is back.
  await eventually('both transfer pods to end during the outage', async () => {
    const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: 'tresor.io/backup=outage-1,tresor.io/role=transfer' });
    return pods.items.length === 2 && pods.items.every((p) => p.status?.phase === 'Succeeded') ? true : undefined;
  }, 180_000);
  const during = await readJob(ctx, 'outage-1');
  state.pg!.start();
  assert.is.not(during.status?.phase, 'Succeeded', 'the job cannot finish while its steps cannot record their results');
  assert.ok(alive(state.op), `the operator exited during the outage (${JSON.stringify(state.op!.child.exitCode ?? state.op!.child.signalCode)}):\n${state.op!.output().slice(-4000)}`);
  await assertSucceeded(ctx, 'outage-1');
  assert.ok(alive(state.op), `the operator exited after the outage:\n${state.op!.output().slice(-4000)}`);
  const j = await readJob(ctx, 'outage-1');
  assert.equal(j.status?.disks?.map((d) => [d.name, d.attempts]), [['a', 1], ['b', 1]], 'one transfer pod per disk: the outage cost no retry');
});

t('the DBOS database dropped while a job is in flight: the restarted operator starts over and adopts the children', async (ctx) => {
  await slowVm(ctx, 'dbloss');
  const rec = recordTransferPods(ctx, 'dbloss-1');
  await createJob(ctx, 'dbloss-1', { vmName: 'dbloss', policyRef: { name: 'slow' } });
  await waitTransferRunning(ctx, 'dbloss-1');
  const uid = (await readJob(ctx, 'dbloss-1')).metadata!.uid!;
  assert.is(state.pg!.sql(`SELECT count(*) FROM dbos.workflow_status WHERE workflow_uuid = '${uid}'`, DBOS_DB).trim(), '1', 'the job\'s workflow was recorded');
  await kill9(state.op!);
  state.pg!.sql(`DROP DATABASE ${DBOS_DB} WITH (FORCE)`);
  assert.is(state.pg!.sql(`SELECT count(*) FROM pg_database WHERE datname = '${DBOS_DB}'`).trim(), '0', 'the database is gone');
  state.op = await startOperator(env(ctx));
  await assertSucceeded(ctx, 'dbloss-1');
  const j = await readJob(ctx, 'dbloss-1');
  assert.equal(j.status?.disks?.map((d) => d.name).sort(), ['a', 'b']);
  assert.equal(rec.stop(), ['dbloss-1-a-xfer-0', 'dbloss-1-b-xfer-0'], 'the new workflow adopted the running transfer pods instead of starting others');
  assert.is(state.pg!.sql(`SELECT count(*) FROM dbos.workflow_status WHERE workflow_uuid = '${uid}' AND status = 'SUCCESS'`, DBOS_DB).trim(), '1', 'a new workflow ran the job to the end');
});

t('the DBOS database dropped under a running operator: it exits 1 instead of failing the job; restarted, it finishes it', async (ctx) => {
  await slowVm(ctx, 'livedrop');
  const rec = recordTransferPods(ctx, 'livedrop-1');
  await createJob(ctx, 'livedrop-1', { vmName: 'livedrop', policyRef: { name: 'slow' } });
  await waitTransferRunning(ctx, 'livedrop-1');
  const op = state.op!;
  state.pg!.sql(`DROP DATABASE ${DBOS_DB} WITH (FORCE)`);
  const exit = await Promise.race([op.exit, new Promise<undefined>((r) => setTimeout(r, 180_000, undefined))]);
  assert.ok(exit, `the operator kept running without its database:\n${op.output().slice(-3000)}`);
  assert.is(exit!.code, 1, op.output().slice(-3000));
  assert.match(op.output(), /exiting: database-lost/);
  const j = await readJob(ctx, 'livedrop-1');
  assert.is.not(j.status?.phase, 'Failed', `the loss of the database is not the job's failure: ${JSON.stringify(j.status?.conditions)}`);
  state.op = await startOperator(env(ctx));
  await assertSucceeded(ctx, 'livedrop-1');
  assert.equal(rec.stop(), ['livedrop-1-a-xfer-0', 'livedrop-1-b-xfer-0'], 'the rerun adopted the transfer pods');
});

t('an operator (re)started while Postgres is down exits 1 saying so; started again once it is back, it finishes the job', async (ctx) => {
  await slowVm(ctx, 'cold');
  const rec = recordTransferPods(ctx, 'cold-1');
  await createJob(ctx, 'cold-1', { vmName: 'cold', policyRef: { name: 'slow' } });
  await waitTransferRunning(ctx, 'cold-1');
  await kill9(state.op!);
  state.pg!.stop();
  // What a Deployment's pod does meanwhile: exits with a clear message, and is restarted with backoff.
  const err = await startOperator(env(ctx)).then(() => undefined, (e: unknown) => e as Error);
  assert.ok(err, 'the operator must not report ready without its database');
  assert.match(err!.message, /exited 1 before it was ready/);
  assert.match(err!.message, /Unable to connect to system database/);
  state.pg!.start();
  state.op = await startOperator(env(ctx));
  await assertSucceeded(ctx, 'cold-1');
  assert.equal(rec.stop(), ['cold-1-a-xfer-0', 'cold-1-b-xfer-0'], 'the recovered workflow adopted the transfer pods');
});

t('after all of it, the vault verifies clean', (ctx) => {
  const r = tresorCli(['vault', 'verify', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile]);
  assert.is(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^OK/);
});

t.run();
