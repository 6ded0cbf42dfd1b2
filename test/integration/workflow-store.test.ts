// The workflow database going away, against a real DBOS on a private Postgres cluster (stopping it never
// touches the shared one): a workflow whose step finishes while Postgres is stopped waits and completes
// once it is back, and the operator's store watch does not mistake that outage for a loss; a dropped
// database is recognised by the store watch with the operator's real probe (ADR 0051).
import { DBOS } from '@dbos-inc/dbos-sdk';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isStoreLost } from '../../operator/src/controllers/backup.ts';
import { watchWorkflowStore } from '../../operator/src/operator/store-watch.ts';
import { eventually } from '../harness.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../postgres.ts';

const DB = 'store_it';
const state = { pg: undefined as PrivatePostgres | undefined, gate: undefined as (() => void) | undefined };
const t = suite('the workflow database: an outage is waited out, a drop is noticed');

const gated = (): Promise<void> => new Promise((resolve) => (state.gate = resolve));

const twoSteps = DBOS.registerWorkflow(async (x: number): Promise<number> => {
  const a = await DBOS.runStep(async () => x + 1, { name: 'first' });
  const b = await DBOS.runStep(async () => {
    await gated();
    return a * 10;
  }, { name: 'second' });
  return b;
}, { name: 'store-it.two-steps' });

t.before(async () => {
  state.pg = await startPrivatePostgres();
  DBOS.setConfig({ name: 'tresor-store-it', systemDatabaseUrl: state.pg.url(DB), logLevel: 'error' });
  await DBOS.launch();
});

t.after(async () => {
  state.gate?.();
  await DBOS.shutdown().catch(() => undefined);
  state.pg?.remove();
});

t('a step that ends while Postgres is stopped is recorded once it is back, and the watch reports no loss', async () => {
  const lost: unknown[] = [];
  const ac = new AbortController();
  const watch = watchWorkflowStore({ probe: () => DBOS.getWorkflowStatus('tresor-store-probe'), onLost: (e) => void lost.push(e), intervalMs: 200 }, ac.signal);
  const handle = await DBOS.startWorkflow(twoSteps, { workflowID: `outage-${Date.now()}` })(4);
  await eventually('the second step to start', async () => state.gate, 30_000);
  state.pg!.stop();
  state.gate!();
  let settled = false;
  const result = handle.getResult().finally(() => (settled = true));
  // Give the step's checkpoint and a few probes time to hit the stopped server.
  await new Promise((r) => setTimeout(r, 3000));
  assert.not.ok(settled, 'the workflow cannot finish while its step result cannot be recorded');
  state.pg!.start();
  assert.is(await result, 50);
  ac.abort();
  await watch;
  assert.is(lost.length, 0, `an outage is not a loss: ${String(lost[0])}`);
});

t('a dropped database is noticed by the watch with the operator\'s probe', async () => {
  const lost: unknown[] = [];
  const ac = new AbortController();
  const watch = watchWorkflowStore({ probe: () => DBOS.getWorkflowStatus('tresor-store-probe'), onLost: (e) => void lost.push(e), intervalMs: 200 }, ac.signal);
  state.pg!.sql(`DROP DATABASE ${DB} WITH (FORCE)`);
  await eventually('the watch to report the loss', async () => (lost.length > 0 ? true : undefined), 60_000);
  await watch;
  assert.ok(isStoreLost(lost[0]), String(lost[0]));
});

t.run();
