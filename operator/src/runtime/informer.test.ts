// The informer's recovery logic against a scripted list-watch source, on a fake clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from './clock.ts';
import { Informer, type ListResult, type ListWatchSource, type WatchEvent } from './informer.ts';

interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: { namespace: string; name: string; resourceVersion: string };
  data?: string;
}

const obj = (name: string, rv: number, data = ''): Obj => ({ metadata: { namespace: 'ns', name, resourceVersion: String(rv) }, data });

/** A fake API: lists return the current objects; each watch can be fed events or ended by the test. */
class FakeSource implements ListWatchSource<Obj> {
  objects = new Map<string, Obj>();
  rv = 1;
  lists = 0;
  watches: { from: string; emit: (e: WatchEvent<Obj>) => void; done: (err: unknown) => void; aborted: boolean }[] = [];
  failLists = 0;

  async list(): Promise<ListResult<Obj>> {
    this.lists++;
    if (this.failLists-- > 0) throw new Error('connection refused');
    return { items: [...this.objects.values()], resourceVersion: String(this.rv) };
  }

  async watch(from: string, emit: (e: WatchEvent<Obj>) => void, done: (err: unknown) => void): Promise<{ abort(): void }> {
    const w = { from, emit, done, aborted: false };
    this.watches.push(w);
    return { abort: () => (w.aborted = true) };
  }

  current(): (typeof this.watches)[number] {
    return this.watches[this.watches.length - 1]!;
  }

  /** Changes the server state; when live, the current watch sees the event. */
  put(name: string, data: string, live: boolean): void {
    const o = obj(name, ++this.rv, data);
    const type = this.objects.has(name) ? 'MODIFIED' : 'ADDED';
    this.objects.set(name, o);
    if (live) this.current().emit({ type, object: o });
  }

  remove(name: string, live: boolean): void {
    const o = this.objects.get(name)!;
    this.objects.delete(name);
    this.rv++;
    if (live) this.current().emit({ type: 'DELETED', object: { ...o, metadata: { ...o.metadata, resourceVersion: String(this.rv) } } });
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function setup(): { clock: FakeClock; src: FakeSource; inf: Informer<Obj>; log: string[] } {
  const clock = new FakeClock();
  const src = new FakeSource();
  const inf = new Informer<Obj>({ resource: 'things', source: src, clock, quietTimeoutMs: 60_000, relistIntervalMs: 0, baseBackoffMs: 1000, maxBackoffMs: 8000 });
  const log: string[] = [];
  inf.on('add', (o) => log.push(`add ${o.metadata.name} ${o.data}`));
  inf.on('update', (o, old) => log.push(`update ${o.metadata.name} ${old?.data}->${o.data}`));
  inf.on('delete', (o) => log.push(`delete ${o.metadata.name}`));
  return { clock, src, inf, log };
}

test('lists, then watches from the list resourceVersion and applies events to the cache', async () => {
  const { src, inf, log } = setup();
  src.put('a', '1', false);
  inf.start();
  await inf.waitForSync();
  await flush();
  assert.is(src.current().from, '2');
  src.put('b', '1', true);
  src.put('a', '2', true);
  src.remove('b', true);
  assert.equal(log, ['add a 1', 'add b 1', 'update a 1->2', 'delete b']);
  assert.is(inf.get('ns/a')?.data, '2');
  assert.is(inf.get('ns/b'), undefined);
  await inf.stop();
});

test('a watch that dies quietly is detected by the watchdog and a relist catches up, deletes included', async () => {
  const { clock, src, inf, log } = setup();
  src.put('a', '1', false);
  src.put('b', '1', false);
  inf.start();
  await inf.waitForSync();
  await flush();
  // The connection is dead: changes happen on the server, the watch never hears of them, done() never comes.
  src.put('a', '2', false);
  src.remove('b', false);
  src.put('c', '1', false);
  clock.advance(59_999);
  await flush();
  assert.is(src.lists, 1, 'not yet');
  clock.advance(1);
  await flush();
  assert.is(src.lists, 2, 'relisted after the quiet timeout');
  assert.ok(src.watches[0]!.aborted, 'the dead watch was torn down');
  const errors: unknown[] = [];
  inf.onError((e) => errors.push(e));
  src.watches[0]!.done(new Error('AbortError: aborted by us'));
  await flush();
  assert.equal(errors, [], 'the late done() of the abandoned watch is not reported');
  assert.is(src.lists, 2, 'and does not restart anything');
  assert.equal(log.slice(2).sort(), ['add c 1', 'delete b', 'update a 1->2']);
  assert.is(src.current().from, String(src.rv));
  await inf.stop();
});

test('events keep the watchdog from firing', async () => {
  const { clock, src, inf } = setup();
  inf.start();
  await inf.waitForSync();
  await flush();
  for (let i = 0; i < 5; i++) {
    clock.advance(50_000);
    src.put('a', String(i), true);
  }
  await flush();
  assert.is(src.lists, 1);
  assert.is(src.watches.length, 1);
  await inf.stop();
});

test('a normally closed or client-timed-out watch resumes from the last resourceVersion without relisting', async () => {
  const { src, inf } = setup();
  inf.start();
  await inf.waitForSync();
  await flush();
  src.put('a', '1', true);
  src.current().done(null);
  await flush();
  assert.is(src.current().from, String(src.rv));
  src.current().done(Object.assign(new Error('timeout'), { name: 'TimeoutError' }));
  await flush();
  assert.is(src.watches.length, 3);
  assert.is(src.lists, 1);
  await inf.stop();
});

test('410 Gone (as an ERROR event or a done error) forces a relist', async () => {
  const { src, inf } = setup();
  inf.start();
  await inf.waitForSync();
  await flush();
  src.current().emit({ type: 'ERROR', object: { code: 410, message: 'too old resource version' } as unknown as Obj });
  await flush();
  assert.is(src.lists, 2);
  src.current().done({ statusCode: 410 });
  await flush();
  assert.is(src.lists, 3);
  await inf.stop();
});

test('watch and list errors back off exponentially, relist, and report each error', async () => {
  const { clock, src, inf } = setup();
  const errors: string[] = [];
  inf.onError((e) => errors.push((e as Error).message));
  inf.start();
  await inf.waitForSync();
  await flush();
  src.failLists = 2;
  src.current().done(new Error('ECONNRESET'));
  await flush();
  assert.is(src.lists, 1, 'waits before retrying');
  clock.advance(1000);
  await flush();
  assert.is(src.lists, 2, 'first retry after 1 s fails');
  clock.advance(1999);
  await flush();
  assert.is(src.lists, 2);
  clock.advance(1);
  await flush();
  assert.is(src.lists, 3, 'second retry after 2 s more');
  clock.advance(4000);
  await flush();
  assert.is(src.lists, 4, 'third after 4 s succeeds');
  assert.equal(errors, ['ECONNRESET', 'connection refused', 'connection refused']);
  src.put('x', '1', true);
  assert.is(inf.get('ns/x')?.data, '1', 'watching again');
  await inf.stop();
});

test('the periodic relist runs even when the watch looks healthy', async () => {
  const clock = new FakeClock();
  const src = new FakeSource();
  const inf = new Informer<Obj>({ resource: 'things', source: src, clock, quietTimeoutMs: 3_600_000, relistIntervalMs: 600_000 });
  inf.start();
  await inf.waitForSync();
  await flush();
  clock.advance(600_000);
  await flush();
  assert.is(src.lists, 2);
  await inf.stop();
});

test('a relist that finds an unchanged object fires no update', async () => {
  const { src, inf, log } = setup();
  src.put('a', '1', false);
  inf.start();
  await inf.waitForSync();
  await flush();
  inf.forceRelist();
  await flush();
  assert.is(src.lists, 2);
  assert.equal(log, ['add a 1']);
  await inf.stop();
});

test('a list that never answers times out, is reported, and is retried', async () => {
  const clock = new FakeClock();
  const src = new FakeSource();
  const inf = new Informer<Obj>({ resource: 'things', source: src, clock, listTimeoutMs: 60_000, relistIntervalMs: 0, baseBackoffMs: 1000 });
  const errors: string[] = [];
  inf.onError((e) => errors.push((e as Error).message));
  const realList = src.list.bind(src);
  let hang = true;
  src.list = (): ReturnType<FakeSource['list']> => (hang ? (src.lists++, new Promise(() => {})) : realList());
  inf.start();
  await flush();
  clock.advance(59_999);
  await flush();
  assert.equal(errors, []);
  hang = false;
  clock.advance(1);
  await flush();
  assert.equal(errors, ['listing things: no answer within 60000 ms']);
  clock.advance(1000);
  await flush();
  assert.ok(inf.hasSynced(), 'the retry after backoff synced');
  await inf.stop();
});

test('stop ends the loop and leaves the cache readable', async () => {
  const { clock, src, inf } = setup();
  src.put('a', '1', false);
  inf.start();
  await inf.waitForSync();
  await flush();
  await inf.stop();
  clock.advance(10 * 60_000);
  await flush();
  assert.is(src.lists, 1);
  assert.ok(src.current().aborted);
  assert.is(inf.list().length, 1);
  assert.is(clock.pendingTimers(), 0, 'no timers left behind');
});

test.run();
