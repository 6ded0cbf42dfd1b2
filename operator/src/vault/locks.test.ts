// Leases that fail closed: unreadable locks count, staleness is the store's clock, a lapsed holder aborts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { acquireLock, LAPSE_MS, liveLocks, removeStaleLocks, STALE_MS, storeNow } from './locks.ts';
import { MemoryStore } from './store.ts';

const test = suite('vault: locks');

/** A MemoryStore whose reads of lock objects fail, like a 503 or EIO on one GET. */
class UnreadableLocks extends MemoryStore {
  override async get(key: string, maxBytes?: number): Promise<Buffer> {
    if (key.startsWith('locks/')) throw Object.assign(new Error('SlowDown'), { $metadata: { httpStatusCode: 503 } });
    return super.get(key, maxBytes);
  }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a lock whose body cannot be read or parsed still counts as live', async () => {
  const store = new UnreadableLocks();
  const held = await acquireLock(store, 'backup', 'ns.vm.disk0');
  await store.put('locks/backup-garbage-abcdef', Buffer.from('{not json'));
  try {
    const live = await liveLocks(store, 'backup');
    assert.equal(live.map((l) => l.owner).sort(), ['garbage', 'ns.vm.disk0']);
  } finally {
    await held.release();
  }
});

test('a failed listing throws instead of meaning "no locks"', async () => {
  const store = new MemoryStore();
  store.list = async function* () {
    yield* [];
    throw new Error('ListObjectsV2: 503');
  };
  try {
    await liveLocks(store, 'gc');
    assert.unreachable('a failed listing read as no locks');
  } catch (err) {
    assert.match((err as Error).message, /503/);
  }
});

test('staleness is measured on the store clock: lock bodies and the readers\' clocks do not matter', async () => {
  const store = new MemoryStore();
  let storeTime = Date.parse('2026-01-01T00:00:00Z');
  store.clock = () => storeTime;
  await store.put('locks/backup-d-000001', Buffer.from(JSON.stringify({ refreshedAt: '2099-01-01T00:00:00Z' })));
  assert.is(await storeNow(store), storeTime);
  assert.is((await liveLocks(store, 'backup')).length, 1);
  storeTime += STALE_MS - 1000;
  assert.is((await liveLocks(store, 'backup')).length, 1, 'live one second before stale, whatever the reader\'s clock says');
  storeTime += 2000;
  assert.is((await liveLocks(store, 'backup')).length, 0, 'a planted future refreshedAt does not keep a lock alive');
  assert.is(await removeStaleLocks(store, 'backup'), 1);
  assert.equal([...store.objects.keys()].filter((k) => k.startsWith('locks/') || k.startsWith('clock/')), [], 'probes are removed too');
});

test('a holder whose refresh lapsed aborts its signal, and assertFresh throws', async () => {
  const store = new MemoryStore();
  let t = 0;
  const held = await acquireLock(store, 'backup', 'd', { monotonic: () => t, refreshMs: 10 });
  held.assertFresh();
  t = LAPSE_MS + 1;
  await until(() => held.signal.aborted, 'the lease to lapse');
  assert.match((held.signal.reason as Error).message, /was not refreshed for \d+ s/);
  assert.throws(() => held.assertFresh(), /was not refreshed/);
  await held.release();
});

test('a holder whose lock object was removed (seen stale by another process) aborts and never re-creates it', async () => {
  const store = new MemoryStore();
  const held = await acquireLock(store, 'gc', 'gc', { refreshMs: 10 });
  await store.delete(held.key);
  await until(() => held.signal.aborted, 'the holder to notice');
  assert.match((held.signal.reason as Error).message, /was removed by another process/);
  assert.not.ok(await store.has(held.key));
  await held.release();
});

test('refresh failures are reported; the holder aborts once they outlast the lease', async () => {
  const store = new MemoryStore();
  let t = 0;
  const errors: unknown[] = [];
  const held = await acquireLock(store, 'backup', 'd', { monotonic: () => t, refreshMs: 10, onRefreshError: (e) => errors.push(e) });
  store.put = async () => {
    throw new Error('EIO');
  };
  await until(() => errors.length >= 2, 'refresh errors');
  assert.not.ok(held.signal.aborted, 'a few failed refreshes within the lease are tolerated');
  t = LAPSE_MS + 1;
  await until(() => held.signal.aborted, 'the lease to lapse');
  await held.release();
});

test.run();
