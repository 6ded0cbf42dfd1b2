// Leader election logic against an in-memory Lease, on a fake clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiException } from '@kubernetes/client-node';
import { FakeClock } from './clock.ts';
import { LeaderElector, type LeaseApi, type LeaseRecord, type LeaseSnapshot, microTime } from './leader.ts';

class MemLease implements LeaseApi {
  snap: LeaseSnapshot | undefined;
  private rv = 0;
  down = false;

  async get(): Promise<LeaseSnapshot | undefined> {
    if (this.down) throw new Error('apiserver unreachable');
    return this.snap;
  }

  async create(record: LeaseRecord): Promise<LeaseSnapshot> {
    if (this.snap) throw new ApiException(409, 'exists', {}, {});
    this.snap = { resourceVersion: String(++this.rv), record };
    return this.snap;
  }

  async update(rv: string, record: LeaseRecord): Promise<LeaseSnapshot> {
    if (this.down) throw new Error('apiserver unreachable');
    if (this.snap?.resourceVersion !== rv) throw new ApiException(409, 'conflict', {}, {});
    this.snap = { resourceVersion: String(++this.rv), record };
    return this.snap;
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

/** Advances the fake clock in retry-period steps, letting async work run between them. */
async function run(clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 500) {
    clock.advance(500);
    await flush();
  }
}

function elector(api: LeaseApi, clock: FakeClock, identity: string): LeaderElector {
  return new LeaderElector({ api, clock, identity, leaseName: 'l', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 });
}

test('microTime has six fractional digits', () => {
  assert.is(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05.678000Z');
});

test('the first elector creates the lease and leads; the second does not while it renews', async () => {
  const clock = new FakeClock();
  const api = new MemLease();
  const a = elector(api, clock, 'a');
  const b = elector(api, clock, 'b');
  assert.ok(await a.tryAcquireOrRenew());
  assert.not.ok(await b.tryAcquireOrRenew());
  for (let i = 0; i < 20; i++) {
    clock.advance(2000);
    assert.ok(await a.tryAcquireOrRenew(), 'a renews');
    assert.not.ok(await b.tryAcquireOrRenew(), 'b sees a fresh record every time');
  }
  assert.is(api.snap?.record.holderIdentity, 'a');
  assert.is(api.snap?.record.leaseTransitions, 0);
});

test('a holder that stops renewing is replaced only after a full lease duration seen by the follower', async () => {
  const clock = new FakeClock();
  const api = new MemLease();
  const a = elector(api, clock, 'a');
  const b = elector(api, clock, 'b');
  await a.tryAcquireOrRenew();
  const acquireA = api.snap!.record.acquireTime;
  assert.not.ok(await b.tryAcquireOrRenew());
  clock.advance(14_999);
  assert.not.ok(await b.tryAcquireOrRenew(), 'not yet expired');
  clock.advance(1);
  assert.ok(await b.tryAcquireOrRenew(), 'expired: b takes over');
  assert.is(api.snap?.record.holderIdentity, 'b');
  assert.is(api.snap?.record.leaseTransitions, 1);
  assert.is.not(api.snap?.record.acquireTime, acquireA);
});

test('run: leads, and on stop waits for the work to end, then releases so a successor takes over at once', async () => {
  const clock = new FakeClock();
  const api = new MemLease();
  const a = elector(api, clock, 'a');
  const b = elector(api, clock, 'b');
  const log: string[] = [];
  const stopA = new AbortController();
  const runA = a.run(stopA.signal, {
    onStartedLeading: async (sig) => {
      log.push('a start');
      await new Promise((r) => sig.addEventListener('abort', r));
      log.push('a work done');
    },
    onStoppedLeading: () => log.push('a stopped'),
  });
  await flush();
  assert.ok(a.isLeader());
  const stopB = new AbortController();
  const runB = b.run(stopB.signal, { onStartedLeading: async () => void log.push('b start') });
  await run(clock, 6000);
  assert.not.ok(b.isLeader());
  stopA.abort();
  await runA;
  assert.is(api.snap?.record.holderIdentity, '', 'released');
  await run(clock, 3000);
  assert.ok(b.isLeader(), 'b took over within a retry period, not a lease duration');
  assert.equal(log, ['a start', 'a work done', 'a stopped', 'b start']);
  stopB.abort();
  await run(clock, 3000);
  await runB;
});

test('a leader that cannot reach the API stops leading after the renew deadline', async () => {
  const clock = new FakeClock();
  const api = new MemLease();
  const a = elector(api, clock, 'a');
  let aborted = false;
  const done = a.run(new AbortController().signal, {
    onStartedLeading: async (sig) => {
      await new Promise((r) => sig.addEventListener('abort', r));
      aborted = true;
    },
  });
  await flush();
  assert.ok(a.isLeader());
  api.down = true;
  await run(clock, 8000);
  assert.ok(a.isLeader(), 'still within the renew deadline');
  await run(clock, 6000);
  await done;
  assert.not.ok(a.isLeader());
  assert.ok(aborted, 'its work was told to stop');
});

test('a leader whose renew call hangs stops leading at the renew deadline, not whenever the call returns', async () => {
  const clock = new FakeClock();
  const api = new MemLease();
  const a = elector(api, clock, 'a');
  const done = a.run(new AbortController().signal, { onStartedLeading: (sig) => new Promise<void>((r) => sig.addEventListener('abort', () => r())) });
  await flush();
  assert.ok(a.isLeader());
  api.get = (): Promise<undefined> => new Promise(() => {});
  await run(clock, 9000);
  assert.ok(a.isLeader(), 'within the deadline');
  await run(clock, 2000);
  await done;
  assert.not.ok(a.isLeader(), 'gave up at the deadline although the call never returned');
});

test.run();
