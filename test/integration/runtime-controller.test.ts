// The runtime assembled the way a Tresor controller will use it, against the real apiserver: informer →
// queue → reconciler (finalizer, conditions, one status writer) → error policy → Events, served metrics.
// A Widget converges to Ready with observedGeneration, a spec change is observed, a status write does not
// make the controller chase its own tail, transient failures retry, a terminal failure is reported with a
// reason and a Warning event, and deletion runs cleanup before the object goes away.
import { CoreV1Api, CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNamespace, deleteNamespace, eventually, kubeConfig } from '../harness.ts';
import { type Condition, isConditionTrue, setCondition } from '../../operator/src/runtime/conditions.ts';
import { Controller } from '../../operator/src/runtime/controller.ts';
import { TerminalError, TransientError } from '../../operator/src/runtime/errors.ts';
import { coreEventSink, EventRecorder } from '../../operator/src/runtime/events.ts';
import { handleFinalizer, objectFinalizerApi } from '../../operator/src/runtime/finalizers.ts';
import { Informer } from '../../operator/src/runtime/informer.ts';
import { parseKey } from '../../operator/src/runtime/keys.ts';
import { apiListWatch, collectionPath } from '../../operator/src/runtime/listwatch.ts';
import { enqueueOnChange, runManager } from '../../operator/src/runtime/manager.ts';
import { createRuntimeMetrics } from '../../operator/src/runtime/metrics.ts';
import { defaultErrorPolicy } from '../../operator/src/runtime/policy.ts';
import { ItemExponentialRateLimiter } from '../../operator/src/runtime/ratelimit.ts';
import { WorkQueue } from '../../operator/src/runtime/queue.ts';
import { done } from '../../operator/src/runtime/reconciler.ts';
import { OpsServer } from '../../operator/src/runtime/server.ts';
import { customObjectStatusApi, writeStatus } from '../../operator/src/runtime/status.ts';
import { ensureWidgetCrd, WIDGET } from './runtime-widget-crd.ts';

interface WidgetStatus {
  conditions?: Condition[];
  size?: number;
}
type Widget = KubernetesObject & { spec?: { size?: number; failTimes?: number; invalid?: boolean }; status?: WidgetStatus };

const kc = kubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const core = kc.makeApiClient(CoreV1Api);
const FINALIZER = 'runtime-test.tresor.io/cleanup';
const API_VERSION = `${WIDGET.group}/${WIDGET.version}`;

interface Ctx {
  ns: string;
  stop: AbortController;
  exit: Promise<unknown>;
  server: OpsServer;
  port: number;
  passes: Map<string, number>;
  cleaned: string[];
}

const t = suite<Ctx>('runtime: controller loop', {} as Ctx);

t.before(async () => {
  await ensureWidgetCrd(kc);
});

t.before.each(async (ctx) => {
  ctx.ns = await createNamespace('runtime-controller');
  const ns = ctx.ns;
  ctx.passes = new Map();
  ctx.cleaned = [];
  const metrics = createRuntimeMetrics();
  const statusApi = customObjectStatusApi<WidgetStatus>(kc, WIDGET);
  const finalizers = objectFinalizerApi(kc, { apiVersion: API_VERSION, kind: WIDGET.kind });
  const events = new EventRecorder({ sink: coreEventSink(kc), component: 'runtime-test', metrics });
  const failures = new Map<string, number>();
  const informer = new Informer<Widget>({
    resource: 'widgets',
    metrics,
    source: apiListWatch<Widget>({
      kubeConfig: kc,
      path: collectionPath({ ...WIDGET, namespace: ns }),
      list: async () => (await custom.listNamespacedCustomObject({ ...WIDGET, namespace: ns })) as never,
    }),
  });
  const setReady = (w: Widget, status: 'True' | 'False', reason: string, message: string) => (cur: { status: WidgetStatus | undefined }): WidgetStatus => ({
    ...cur.status,
    size: w.spec?.size,
    conditions: [...setCondition(cur.status?.conditions, { type: 'Ready', status, reason, message, observedGeneration: w.metadata?.generation }, Date.now())],
  });
  const controller = new Controller<Widget>({
    name: 'widget',
    store: informer,
    metrics,
    errorPolicy: defaultErrorPolicy(),
    queue: new WorkQueue({ name: 'widget', metrics, rateLimiter: new ItemExponentialRateLimiter({ baseMs: 50, maxMs: 1000 }) }),
    reconcile: async (w, { key }) => {
      ctx.passes.set(key, (ctx.passes.get(key) ?? 0) + 1);
      const ref = parseKey(key);
      const fin = await handleFinalizer({ api: finalizers, object: w, ref, finalizer: FINALIZER, cleanup: async () => void ctx.cleaned.push(key) });
      if (fin === 'finalized') return done();
      if (w.spec?.invalid === true) throw new TerminalError('spec.invalid is set', { reason: 'InvalidSpec' });
      const failed = failures.get(key) ?? 0;
      if (failed < (w.spec?.failTimes ?? 0)) {
        failures.set(key, failed + 1);
        throw new TransientError(`simulated outage ${failed + 1}`);
      }
      await writeStatus({ api: statusApi, ref, metrics, mutate: setReady(w, 'True', 'Ready', `size ${w.spec?.size}`) });
      return done();
    },
    onTerminal: async (w, err) => {
      await writeStatus({ api: statusApi, ref: parseKey(`${w.metadata?.namespace}/${w.metadata?.name}`), mutate: setReady(w, 'False', err.reason ?? 'Failed', err.message) });
      await events.warning(w, err.reason ?? 'Failed', err.message);
    },
  });
  enqueueOnChange(informer, (k) => controller.enqueue(k));
  ctx.server = new OpsServer({ registry: metrics.registry, port: 0, host: '127.0.0.1' });
  ctx.port = await ctx.server.listen();
  ctx.stop = new AbortController();
  ctx.exit = runManager({ informers: [informer], controllers: [controller] }, ctx.stop.signal);
});

t.after.each(async (ctx) => {
  ctx.stop.abort();
  await ctx.exit;
  await ctx.server.close();
  // Our finalizer would hold namespace deletion with no controller left to release it.
  const list = (await custom.listNamespacedCustomObject({ ...WIDGET, namespace: ctx.ns })) as { items: Widget[] };
  for (const w of list.items) {
    await custom.patchNamespacedCustomObject({ ...WIDGET, namespace: ctx.ns, name: w.metadata!.name!, body: [{ op: 'remove', path: '/metadata/finalizers' }] }).catch(() => undefined);
  }
  await deleteNamespace(ctx.ns);
});

const create = (ns: string, name: string, spec: Widget['spec']): Promise<unknown> =>
  custom.createNamespacedCustomObject({ ...WIDGET, namespace: ns, body: { apiVersion: API_VERSION, kind: WIDGET.kind, metadata: { name }, spec } });
const get = async (ns: string, name: string): Promise<Widget | undefined> =>
  ((await custom.getNamespacedCustomObject({ ...WIDGET, namespace: ns, name }).catch(() => undefined)) as Widget | undefined);

t('a widget converges to Ready at its generation, follows a spec change, then goes quiet', async ({ ns, passes, port }) => {
  await create(ns, 'w1', { size: 1 });
  const w = await eventually('Ready at generation 1', async () => {
    const got = await get(ns, 'w1');
    return isConditionTrue(got?.status?.conditions, 'Ready', 1) ? got : undefined;
  }, 15_000);
  assert.equal(w.metadata?.finalizers, [FINALIZER]);
  await custom.patchNamespacedCustomObject({ ...WIDGET, namespace: ns, name: 'w1', body: [{ op: 'replace', path: '/spec/size', value: 2 }] });
  await eventually('Ready at generation 2', async () => {
    const got = await get(ns, 'w1');
    return isConditionTrue(got?.status?.conditions, 'Ready', 2) && got?.status?.size === 2 ? true : undefined;
  }, 15_000);
  await new Promise((r) => setTimeout(r, 500));
  const settled = passes.get(`${ns}/w1`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.is(passes.get(`${ns}/w1`), settled, 'no further passes: the unchanged status is not rewritten, so no self-triggered events');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /tresor_reconcile_total\{controller="widget",outcome="done"\} \d+/);
  assert.match(metrics, /tresor_status_writes_total\{result="written"\} [1-9]/);
});

t('transient failures are retried with backoff until the widget becomes Ready', async ({ ns, passes }) => {
  await create(ns, 'flaky', { size: 1, failTimes: 3 });
  await eventually('Ready after retries', async () => (isConditionTrue((await get(ns, 'flaky'))?.status?.conditions, 'Ready') ? true : undefined), 15_000);
  assert.ok((passes.get(`${ns}/flaky`) ?? 0) >= 4, 'three failed passes and a good one');
});

t('a terminal failure sets Ready False with its reason, emits a Warning event, and stops retrying', async ({ ns, passes }) => {
  await create(ns, 'bad', { invalid: true });
  const cond = await eventually('Ready False', async () => {
    const c = (await get(ns, 'bad'))?.status?.conditions?.find((x) => x.type === 'Ready');
    return c?.status === 'False' ? c : undefined;
  }, 15_000);
  assert.is(cond.reason, 'InvalidSpec');
  assert.match(cond.message, 'spec.invalid is set');
  const ev = await eventually('Warning event', async () => {
    const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=bad' });
    return list.items.find((e) => e.reason === 'InvalidSpec');
  }, 10_000);
  assert.is(ev.type, 'Warning');
  const n = passes.get(`${ns}/bad`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok((passes.get(`${ns}/bad`) ?? 0) <= (n ?? 0) + 1, 'no retry loop (at most the pass woken by our own status write)');
});

t('deleting a widget runs cleanup once, then the finalizer is released and it is gone', async ({ ns, cleaned }) => {
  await create(ns, 'doomed', { size: 1 });
  await eventually('finalizer added', async () => ((await get(ns, 'doomed'))?.metadata?.finalizers?.includes(FINALIZER) ? true : undefined), 15_000);
  await custom.deleteNamespacedCustomObject({ ...WIDGET, namespace: ns, name: 'doomed' });
  await eventually('gone', async () => ((await get(ns, 'doomed')) === undefined ? true : undefined), 15_000);
  assert.equal(cleaned, [`${ns}/doomed`]);
});

t.run();
