// Workflow retention over an in-memory store: only finished workflows older than the retention go, in
// batches, the newest stay; a store error waits for the next round instead of ending the controller.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../runtime/clock.ts';
import { pruneWorkflows, workflowRetention, type FinishedWorkflows } from './workflow-retention.ts';

const H = 3_600_000;

function store(rows: Array<{ id: string; completedMs?: number }>): FinishedWorkflows & { rows: typeof rows; calls: number } {
  const s = {
    rows, calls: 0,
    list: async (beforeMs: number, limit: number) => {
      s.calls++;
      return s.rows.filter((r) => r.completedMs !== undefined && r.completedMs < beforeMs).sort((a, b) => a.completedMs! - b.completedMs!).slice(0, limit).map((r) => r.id);
    },
    delete: async (ids: readonly string[]) => void (s.rows = s.rows.filter((r) => !ids.includes(r.id))),
  };
  return s;
}

test('finished workflows past the retention are deleted in batches; recent and pending ones stay', async () => {
  const clock = new FakeClock(1000 * H);
  const s = store([
    ...Array.from({ length: 7 }, (_, i) => ({ id: `old-${i}`, completedMs: (1000 - 200 - i) * H })),
    { id: 'recent', completedMs: (1000 - 1) * H },
    { id: 'pending' },
  ]);
  assert.is(await pruneWorkflows({ store: s, retentionMs: 168 * H, intervalMs: H, batch: 3, clock }), 7);
  assert.equal(s.rows.map((r) => r.id), ['recent', 'pending']);
  assert.is(s.calls, 3, 'three batches of 3, 3 and 1');
  assert.is(await pruneWorkflows({ store: s, retentionMs: 168 * H, intervalMs: H, batch: 3, maxBatches: 1, clock }), 0);
});

test('the controller prunes each interval and survives a failing store', async () => {
  const clock = new FakeClock(1000 * H);
  let fail = true;
  const s = store([{ id: 'old', completedMs: 1 }]);
  const flaky: FinishedWorkflows = {
    list: async (b, l) => {
      if (fail) throw new Error('database restarting');
      return s.list(b, l);
    },
    delete: (ids) => s.delete(ids),
  };
  const ac = new AbortController();
  const running = workflowRetention({ store: flaky, retentionMs: H, intervalMs: H, clock }).run(ac.signal);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.is(s.rows.length, 1, 'first round failed');
  fail = false;
  clock.advance(H);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.is(s.rows.length, 0, 'the next round deleted it');
  ac.abort();
  await running;
});

test.run();
