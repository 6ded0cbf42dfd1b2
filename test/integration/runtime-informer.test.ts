// The runtime's informer against the real apiserver: it sees create/update/delete, and when its watch dies
// (silently, or by the connection being cut) it notices, relists, and catches up on what it missed,
// deletes included.
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNamespace, deleteNamespace, eventually, kubeConfig } from '../harness.ts';
import { Informer, type ListWatchSource, type WatchHandle } from '../../operator/src/runtime/informer.ts';
import { apiListWatch, collectionPath } from '../../operator/src/runtime/listwatch.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const SELECTOR = 'runtime-test=informer';

/** Wraps the real source so a test can silence the live watch (a dead TCP peer) or cut it (abort). */
class Breakable implements ListWatchSource<V1ConfigMap> {
  private readonly inner: ListWatchSource<V1ConfigMap>;
  silenced = false;
  lists = 0;
  watches = 0;
  handles: WatchHandle[] = [];

  constructor(inner: ListWatchSource<V1ConfigMap>) {
    this.inner = inner;
  }

  async list(): ReturnType<ListWatchSource<V1ConfigMap>['list']> {
    this.lists++;
    return this.inner.list();
  }

  async watch(...[rv, onEvent, onDone]: Parameters<ListWatchSource<V1ConfigMap>['watch']>): Promise<WatchHandle> {
    this.watches++;
    // A silenced watch swallows events and never reports done, like a connection whose peer vanished.
    const h = await this.inner.watch(rv, (e) => this.silenced || onEvent(e), (err) => this.silenced || onDone(err));
    this.handles.push(h);
    return h;
  }
}

function cm(name: string, value: string): V1ConfigMap {
  return { metadata: { name, labels: { 'runtime-test': 'informer' } }, data: { value } };
}

const t = suite<{ ns: string; src: Breakable; inf: Informer<V1ConfigMap>; log: string[] }>('runtime: informer', {
  ns: '', src: undefined as never, inf: undefined as never, log: [],
});

t.before.each(async (ctx) => {
  ctx.ns = await createNamespace('runtime-informer');
  const ns = ctx.ns;
  ctx.src = new Breakable(apiListWatch<V1ConfigMap>({
    kubeConfig: kc,
    path: collectionPath({ group: '', version: 'v1', plural: 'configmaps', namespace: ns }),
    labelSelector: SELECTOR,
    typeMeta: { apiVersion: 'v1', kind: 'ConfigMap' },
    list: () => core.listNamespacedConfigMap({ namespace: ns, labelSelector: SELECTOR }),
  }));
  ctx.log = [];
  ctx.inf = new Informer<V1ConfigMap>({ resource: 'configmaps', source: ctx.src, quietTimeoutMs: 3000, relistIntervalMs: 0, baseBackoffMs: 200 });
  ctx.inf.on('add', (o) => ctx.log.push(`add ${o.metadata?.name}=${o.data?.value}`));
  ctx.inf.on('update', (o) => ctx.log.push(`update ${o.metadata?.name}=${o.data?.value}`));
  ctx.inf.on('delete', (o) => ctx.log.push(`delete ${o.metadata?.name}`));
});

t.after.each(async (ctx) => {
  await ctx.inf.stop();
  await deleteNamespace(ctx.ns);
});

const has = (log: string[], line: string) => async (): Promise<true | undefined> => (log.includes(line) ? true : undefined);

t('sees create, update and delete through the watch, without relisting', async ({ ns, src, inf, log }) => {
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('pre', '0') });
  inf.start();
  await inf.waitForSync();
  assert.ok(inf.get(`${ns}/pre`), 'initial list filled the cache');
  assert.is(inf.get(`${ns}/pre`)?.kind, 'ConfigMap', 'listed items carry their kind (Events need it)');
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('a', '1') });
  await eventually('add a', has(log, 'add a=1'), 10_000);
  await core.replaceNamespacedConfigMap({ namespace: ns, name: 'a', body: cm('a', '2') });
  await eventually('update a', has(log, 'update a=2'), 10_000);
  await core.deleteNamespacedConfigMap({ namespace: ns, name: 'a' });
  await eventually('delete a', has(log, 'delete a'), 10_000);
  assert.is(inf.get(`${ns}/a`), undefined);
  assert.is(inf.get(`${ns}/pre`)?.data?.value, '0');
  assert.is(src.lists, 1, 'one list; everything else came from the watch');
});

t('a watch that goes silent is caught by the quiet timeout; the relist catches up, deletes included', async ({ ns, src, inf, log }) => {
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('a', '1') });
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('b', '1') });
  inf.start();
  await inf.waitForSync();
  src.silenced = true;
  await core.replaceNamespacedConfigMap({ namespace: ns, name: 'a', body: cm('a', '2') });
  await core.deleteNamespacedConfigMap({ namespace: ns, name: 'b' });
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('c', '1') });
  // Let the silenced watch swallow whatever it was going to deliver before the watchdog fires.
  await new Promise((r) => setTimeout(r, 500));
  assert.is(inf.get(`${ns}/a`)?.data?.value, '1', 'the cache is stale while the watch is dead');
  src.silenced = false;
  await eventually('relist after quiet timeout', async () => (src.lists >= 2 ? true : undefined), 15_000);
  await eventually('cache caught up', async () => (inf.get(`${ns}/c`) && inf.get(`${ns}/b`) === undefined && inf.get(`${ns}/a`)?.data?.value === '2' ? true : undefined), 10_000);
  assert.ok(log.includes('delete b'), 'the delete missed while deaf still fired');
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('d', '1') });
  await eventually('watching again', has(log, 'add d=1'), 10_000);
});

t('a cut connection (aborted watch) is an error: the informer backs off, relists and watches again', async ({ ns, src, inf, log }) => {
  const errors: unknown[] = [];
  inf.onError((e) => errors.push(e));
  inf.start();
  await inf.waitForSync();
  await eventually('watch connected', async () => (src.handles.length >= 1 ? true : undefined), 10_000);
  src.handles[src.handles.length - 1]!.abort();
  await core.createNamespacedConfigMap({ namespace: ns, body: cm('after-cut', '1') });
  await eventually('add after cut', has(log, 'add after-cut=1'), 15_000);
  assert.ok(src.watches >= 2, 'a new watch was opened');
  assert.ok(src.lists >= 2, 'and the cache was relisted');
  assert.ok(errors.length >= 1, 'the cut was reported');
});

t('a healthy but quiet watch outlives client-node\'s 30 s inactivity abort without relisting or missing events', async ({ ns }) => {
  const src = new Breakable(apiListWatch<V1ConfigMap>({
    kubeConfig: kc,
    path: collectionPath({ group: '', version: 'v1', plural: 'configmaps', namespace: ns }),
    labelSelector: SELECTOR,
    list: () => core.listNamespacedConfigMap({ namespace: ns, labelSelector: SELECTOR }),
  }));
  const log: string[] = [];
  const inf = new Informer<V1ConfigMap>({ resource: 'configmaps', source: src, quietTimeoutMs: 60_000, relistIntervalMs: 0 });
  inf.on('add', (o) => log.push(`add ${o.metadata?.name}=${o.data?.value}`));
  inf.start();
  try {
    await inf.waitForSync();
    await new Promise((r) => setTimeout(r, 35_000));
    await core.createNamespacedConfigMap({ namespace: ns, body: cm('late', '1') });
    await eventually('add after a long quiet spell', has(log, 'add late=1'), 10_000);
    assert.ok(src.watches >= 2, `the watch was re-opened after client-node's inactivity abort (${src.watches} watches)`);
    assert.is(src.lists, 1, 'resumed from its resourceVersion, no relist');
  } finally {
    await inf.stop();
  }
});

t.run();
