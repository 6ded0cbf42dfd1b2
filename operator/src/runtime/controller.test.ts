// The controller loop turns outcomes and errors into the key's next visit; timing on a fake clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from './clock.ts';
import { Controller } from './controller.ts';
import { PrerequisiteMissingError, TerminalError, TransientError } from './errors.ts';
import { createRuntimeMetrics } from './metrics.ts';
import { ItemExponentialRateLimiter } from './ratelimit.ts';
import { WorkQueue } from './queue.ts';
import { done, type Outcome, requeueAfter, waitForEvent } from './reconciler.ts';

interface Obj {
  readonly name: string;
  readonly generation: number;
}

function setup(script: (o: Obj, retries: number) => Promise<Outcome>): {
  clock: FakeClock;
  ctl: Controller<Obj>;
  store: Map<string, Obj>;
  seen: string[];
  terminal: string[];
  metrics: ReturnType<typeof createRuntimeMetrics>;
} {
  const clock = new FakeClock();
  const store = new Map<string, Obj>();
  const seen: string[] = [];
  const terminal: string[] = [];
  const metrics = createRuntimeMetrics();
  const queue = new WorkQueue({ name: 'c', clock, rateLimiter: new ItemExponentialRateLimiter({ baseMs: 100, maxMs: 10_000 }) });
  const ctl = new Controller<Obj>({
    name: 'c',
    store: { get: (k) => store.get(k) },
    queue,
    clock,
    metrics,
    reconcile: async (o, ctx) => {
      seen.push(`${o.name}@${o.generation}`);
      return script(o, ctx.retries);
    },
    onTerminal: async (o, err) => {
      terminal.push(`${o.name}: ${err.message}`);
    },
  });
  return { clock, ctl, store, seen, terminal, metrics };
}

test('reconciles the latest cached object, not the event that enqueued it', async () => {
  const { ctl, store, seen } = setup(async () => done());
  store.set('ns/a', { name: 'a', generation: 1 });
  ctl.enqueue('ns/a');
  store.set('ns/a', { name: 'a', generation: 2 });
  ctl.enqueue('ns/a');
  await ctl.processNext();
  assert.equal(seen, ['a@2']);
  assert.is(ctl.queue.len(), 0, 'two events, one pass');
});

test('a key missing from the cache is dropped without calling the reconciler', async () => {
  const { ctl, seen } = setup(async () => done());
  ctl.enqueue('ns/gone');
  await ctl.processNext();
  assert.equal(seen, []);
});

test('requeue outcome comes back after exactly its delay; wait and done do not come back', async () => {
  const outcomes: Outcome[] = [requeueAfter(5000), waitForEvent(), done()];
  const { ctl, store, clock, seen } = setup(async () => outcomes.shift()!);
  store.set('a', { name: 'a', generation: 1 });
  ctl.enqueue('a');
  await ctl.processNext();
  clock.advance(4999);
  assert.is(ctl.queue.len(), 0);
  clock.advance(1);
  assert.is(ctl.queue.len(), 1);
  await ctl.processNext();
  clock.advance(3_600_000);
  assert.is(ctl.queue.len(), 0, 'wait: only an event brings it back');
  ctl.enqueue('a');
  await ctl.processNext();
  assert.is(seen.length, 3);
});

test('transient errors back off per key, doubling, and success resets the backoff', async () => {
  let failures = 3;
  const retriesSeen: number[] = [];
  const { ctl, store, clock } = setup(async (_o, retries) => {
    retriesSeen.push(retries);
    if (failures-- > 0) throw new TransientError('apiserver unavailable');
    return done();
  });
  store.set('a', { name: 'a', generation: 1 });
  ctl.enqueue('a');
  await ctl.processNext();
  const gaps: number[] = [];
  for (let i = 0; i < 3; i++) {
    let waited = 0;
    while (ctl.queue.len() === 0) {
      clock.advance(10);
      waited += 10;
    }
    gaps.push(waited);
    await ctl.processNext();
  }
  assert.equal(gaps, [100, 200, 400]);
  assert.equal(retriesSeen, [0, 1, 2, 3]);
  assert.is(ctl.queue.numRequeues('a'), 0, 'forgotten after success');
});

test('terminal errors stop retrying and call the terminal handler once with a wrapped message', async () => {
  const { ctl, store, clock, terminal, metrics } = setup(async () => {
    throw new TerminalError('spec.vaultRef is empty', { reason: 'InvalidSpec' });
  });
  store.set('ns/a', { name: 'a', generation: 1 });
  ctl.enqueue('ns/a');
  await ctl.processNext();
  clock.advance(3_600_000);
  assert.is(ctl.queue.len(), 0);
  assert.equal(terminal, ['a: reconciling c ns/a: spec.vaultRef is empty']);
  assert.match(await metrics.registry.metrics(), 'tresor_reconcile_total{controller="c",outcome="error_terminal"} 1');
});

test('a missing prerequisite re-checks at its fixed interval without growing the backoff', async () => {
  const { ctl, store, clock } = setup(async () => {
    throw new PrerequisiteMissingError('vault v not found', { retryAfterMs: 7000 });
  });
  store.set('a', { name: 'a', generation: 1 });
  for (let i = 0; i < 3; i++) {
    ctl.enqueue('a');
    await ctl.processNext();
    clock.advance(6999);
    assert.is(ctl.queue.len(), 0);
    clock.advance(1);
    assert.is(ctl.queue.len(), 1);
    assert.is(ctl.queue.numRequeues('a'), 0);
  }
});

test('workers never reconcile the same key concurrently, and run() returns after shutdown drains', async () => {
  const { clock, store } = setup(async () => done());
  let inFlight = 0;
  let maxInFlight = 0;
  let passes = 0;
  const gates: (() => void)[] = [];
  const ctl = new Controller<Obj>({
    name: 'p',
    clock,
    workers: 4,
    store: { get: (k) => store.get(k) },
    reconcile: async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => gates.push(r));
      inFlight--;
      passes++;
      return done();
    },
  });
  store.set('a', { name: 'a', generation: 1 });
  const ac = new AbortController();
  const running = ctl.run(ac.signal);
  ctl.enqueue('a');
  await new Promise((r) => setImmediate(r));
  ctl.enqueue('a');
  ctl.enqueue('a');
  await new Promise((r) => setImmediate(r));
  assert.is(maxInFlight, 1);
  gates.shift()!();
  await new Promise((r) => setImmediate(r));
  assert.is(maxInFlight, 1, 'the re-added key runs after the first pass, not beside it');
  ac.abort();
  gates.shift()!();
  await running;
  assert.is(passes, 2);
});

test('a pass that overruns its timeout is told to stop through its signal and retried with backoff', async () => {
  const clock = new FakeClock();
  const store = new Map<string, Obj>([['a', { name: 'a', generation: 1 }]]);
  const ctl = new Controller<Obj>({
    name: 'slow',
    clock,
    passTimeoutMs: 10_000,
    queue: new WorkQueue({ name: 'slow', clock, rateLimiter: new ItemExponentialRateLimiter({ baseMs: 100, maxMs: 1000 }) }),
    store: { get: (k) => store.get(k) },
    reconcile: async (_o, { signal }) => {
      await new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      return done();
    },
  });
  ctl.enqueue('a');
  const pass = ctl.processNext();
  await Promise.resolve();
  clock.advance(9_999);
  await Promise.resolve();
  assert.is(ctl.queue.numRequeues('a'), 0, 'still running');
  clock.advance(1);
  await pass;
  assert.is(ctl.queue.numRequeues('a'), 1, 'timed out as a transient failure');
  assert.ok(ctl.queue.hasDelayed('a'));
  assert.is(clock.pendingTimers(), 1, 'only the retry timer is left; the pass timer was cancelled');
});

test.run();
