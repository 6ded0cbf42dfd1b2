// The work queue's guarantees, timed with a fake clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from './clock.ts';
import { createRuntimeMetrics } from './metrics.ts';
import { BucketRateLimiter, ItemExponentialRateLimiter, MaxOfRateLimiter } from './ratelimit.ts';
import { WorkQueue } from './queue.ts';

function setup(): { clock: FakeClock; q: WorkQueue } {
  const clock = new FakeClock();
  const q = new WorkQueue({ name: 't', clock, rateLimiter: new ItemExponentialRateLimiter({ baseMs: 100, maxMs: 1000 }) });
  return { clock, q };
}

test('many adds of one key queue it once', async () => {
  const { q } = setup();
  q.add('ns/a');
  q.add('ns/a');
  q.add('ns/b');
  q.add('ns/a');
  assert.is(q.len(), 2);
  assert.is(await q.get(), 'ns/a');
  assert.is(await q.get(), 'ns/b');
  assert.is(q.len(), 0);
});

test('a key held by a worker is not handed out again until done, then comes back once', async () => {
  const { q } = setup();
  q.add('k');
  const first = await q.get();
  q.add('k');
  q.add('k');
  assert.is(q.len(), 0, 'not queued while in flight');
  let second: string | undefined;
  void q.get().then((k) => (second = k));
  await Promise.resolve();
  assert.is(second, undefined);
  q.done(first!);
  await Promise.resolve();
  assert.is(second, 'k');
});

test('addAfter delivers on time and the earliest pending delay wins', async () => {
  const { clock, q } = setup();
  q.addAfter('k', 500);
  q.addAfter('k', 1000);
  q.addAfter('k', 200);
  clock.advance(199);
  assert.is(q.len(), 0);
  clock.advance(1);
  assert.is(q.len(), 1);
  assert.is(await q.get(), 'k');
  clock.advance(10_000);
  assert.is(q.len(), 0, 'superseded delays do not fire later');
});

test('addRateLimited backs off exponentially per key and forget resets', async () => {
  const { clock, q } = setup();
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    q.addRateLimited('k');
    let waited = 0;
    while (q.len() === 0 && waited < 10_000) {
      clock.advance(10);
      waited += 10;
    }
    delays.push(waited);
    q.done((await q.get())!);
  }
  assert.equal(delays, [100, 200, 400, 800, 1000]);
  assert.is(q.numRequeues('k'), 5);
  assert.is(q.numRequeues('other'), 0, 'backoff is per key');
  q.forget('k');
  assert.is(q.numRequeues('k'), 0);
});

test('token bucket lets a burst through, then spaces retries at qps', () => {
  const clock = new FakeClock();
  const b = new BucketRateLimiter({ qps: 10, burst: 2, clock });
  assert.equal([b.when('a'), b.when('b'), b.when('c'), b.when('d')], [0, 0, 100, 200]);
  clock.advance(1000);
  assert.is(b.when('e'), 0, 'tokens refill over time');
});

test('max-of limiter takes the longest delay', () => {
  const clock = new FakeClock();
  const m = new MaxOfRateLimiter([
    new ItemExponentialRateLimiter({ baseMs: 5, maxMs: 100 }),
    new BucketRateLimiter({ qps: 1, burst: 1, clock }),
  ]);
  assert.is(m.when('a'), 5);
  assert.is(m.when('a'), 1000);
  assert.is(m.retries('a'), 2);
});

test('exponential backoff never overflows for a key failing forever', () => {
  const l = new ItemExponentialRateLimiter({ baseMs: 5, maxMs: 1000 });
  let d = 0;
  for (let i = 0; i < 2000; i++) d = l.when('k');
  assert.is(d, 1000);
});

test('shutdown drains queued keys, then get resolves undefined; delayed adds are cancelled', async () => {
  const { clock, q } = setup();
  q.add('a');
  q.addAfter('b', 100);
  q.shutdown();
  q.add('c');
  clock.advance(1000);
  assert.is(await q.get(), 'a');
  assert.is(await q.get(), undefined);
  assert.is(clock.pendingTimers(), 0);
});

test('shutdown wakes idle workers and idle() waits for in-flight work', async () => {
  const { q } = setup();
  q.add('a');
  const held = await q.get();
  const waiting = q.get();
  let idle = false;
  void q.idle().then(() => (idle = true));
  q.shutdown();
  assert.is(await waiting, undefined);
  await Promise.resolve();
  assert.is(idle, false, 'in-flight key still held');
  q.done(held!);
  await Promise.resolve();
  assert.is(idle, true);
});

test('shutdown with discardQueued drops waiting keys', async () => {
  const { q } = setup();
  q.add('a');
  q.add('b');
  q.shutdown({ discardQueued: true });
  assert.is(await q.get(), undefined);
});

test('depth and adds are exported as metrics', async () => {
  const clock = new FakeClock();
  const metrics = createRuntimeMetrics();
  const q = new WorkQueue({ name: 'm', clock, metrics });
  q.add('a');
  q.add('a');
  q.add('b');
  const text = await metrics.registry.metrics();
  assert.match(text, 'tresor_workqueue_depth{queue="m"} 2');
  assert.match(text, 'tresor_workqueue_adds_total{queue="m"} 2');
});

test.run();
