// Workflow retention against DBOS on the real Postgres: a finished workflow (with its child) past the
// retention is deleted from the system database; a pending one and a recent one are kept.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dbosFinishedWorkflows, pruneWorkflows } from '../../operator/src/operator/workflow-retention.ts';
import { testEnv, uniqueSuffix } from '../harness.ts';

const t = suite('finished workflows are pruned from DBOS');
const suffix = uniqueSuffix();

const child = DBOS.registerWorkflow(async (x: number) => x * 2, { name: 'retention-child' });
const parent = DBOS.registerWorkflow(async (x: number) => {
  const h = await DBOS.startWorkflow(child, { workflowID: `child-${x}-${suffix}` })(x);
  return h.getResult();
}, { name: 'retention-parent' });
const waiting = DBOS.registerWorkflow(async () => {
  await DBOS.sleep(600_000);
  return 'woke';
}, { name: 'retention-waiting' });

t.before(async () => {
  const url = new URL(testEnv().pgUrl);
  url.pathname = `/tresor_retention_${suffix}`;
  DBOS.setConfig({ name: 'tresor-retention-test', systemDatabaseUrl: url.toString(), executorID: `retention-${suffix}`, applicationVersion: 'retention-test', logLevel: 'warn' });
  await DBOS.launch();
});

t.after(async () => {
  await DBOS.cancelWorkflow(`pending-${suffix}`).catch(() => undefined);
  await DBOS.shutdown();
  // The cancelled workflow's DBOS.sleep timer outlives shutdown and kept this process alive for its full
  // 10 min after uvu printed its summary. Exit once the summary is out (uvu's exit code is kept); unref'd,
  // so a process with nothing left running exits on its own first.
  setTimeout(() => process.exit(), 2_000).unref();
});

t('old finished workflows and their children go; pending and recent ones stay', async () => {
  const old = await DBOS.startWorkflow(parent, { workflowID: `old-${suffix}` })(1);
  assert.is(await old.getResult(), 2);
  await DBOS.startWorkflow(waiting, { workflowID: `pending-${suffix}` })();
  const cutoffAfterOld = Date.now() + 1;
  await new Promise((r) => setTimeout(r, 20));
  const recent = await DBOS.startWorkflow(parent, { workflowID: `recent-${suffix}` })(2);
  assert.is(await recent.getResult(), 4);
  // Retention measured from a clock at the moment just after the old workflow finished.
  const deleted = await pruneWorkflows({ store: dbosFinishedWorkflows(), retentionMs: 0, intervalMs: 0, clock: { now: () => cutoffAfterOld, setTimer: () => () => {} } });
  assert.is(deleted, 1, 'one top-level workflow (its child goes with it)');
  assert.is(await DBOS.getWorkflowStatus(`old-${suffix}`), null);
  assert.is(await DBOS.getWorkflowStatus(`child-1-${suffix}`), null, 'the child went with its parent');
  assert.is((await DBOS.getWorkflowStatus(`pending-${suffix}`))?.status, 'PENDING');
  assert.is((await DBOS.getWorkflowStatus(`recent-${suffix}`))?.status, 'SUCCESS');
  assert.is((await DBOS.getWorkflowStatus(`child-2-${suffix}`))?.status, 'SUCCESS');
});

t.run();
