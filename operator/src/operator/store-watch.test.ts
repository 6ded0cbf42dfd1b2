import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { watchWorkflowStore } from './store-watch.ts';

const pgError = (message: string, code: string): Error => Object.assign(new Error(message), { code });

test('an outage is logged and probed again; a dropped database is reported once and ends the watch', async () => {
  const answers: Array<Error | null> = [null, pgError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), null, pgError('database "tresor" does not exist', '3D000'), null];
  let probes = 0;
  const lost: unknown[] = [];
  await watchWorkflowStore({
    probe: async () => {
      const a = answers[probes++];
      if (a) throw a;
    },
    onLost: (e) => void lost.push(e),
    intervalMs: 1,
  }, new AbortController().signal);
  assert.is(probes, 4, 'no probe after the loss');
  assert.equal(lost.map((e) => (e as Error).message), ['database "tresor" does not exist']);
});

test('aborting ends the watch without reporting anything', async () => {
  const ac = new AbortController();
  let probes = 0;
  const lost: unknown[] = [];
  const watch = watchWorkflowStore({ probe: async () => void (++probes === 3 && ac.abort()), onLost: (e) => void lost.push(e), intervalMs: 1 }, ac.signal);
  await watch;
  assert.is(probes, 3);
  assert.is(lost.length, 0);
});

test.run();
