// The status writer against the real apiserver: a real 409 (another writer bumps resourceVersion between
// our read and our patch) is retried from a fresh read and nothing is lost; an unchanged status costs no
// write; removed fields really disappear; the spec is never touched.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNamespace, deleteNamespace, kubeConfig } from '../harness.ts';
import { isConflict } from '../../operator/src/runtime/errors.ts';
import type { ObjectRef } from '../../operator/src/runtime/keys.ts';
import { createRuntimeMetrics } from '../../operator/src/runtime/metrics.ts';
import { customObjectStatusApi, type StatusApi, writeStatus } from '../../operator/src/runtime/status.ts';
import { ensureWidgetCrd, WIDGET } from './runtime-widget-crd.ts';

interface WidgetStatus {
  count?: number;
  note?: string;
  writer?: string;
}

const kc = kubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);

/** Counts calls and lets a test run another writer just before our patch reaches the server. */
class Counting implements StatusApi<WidgetStatus> {
  private readonly inner: StatusApi<WidgetStatus>;
  reads = 0;
  patches = 0;
  conflicts = 0;
  beforePatch: (() => Promise<void>) | undefined;

  constructor(inner: StatusApi<WidgetStatus>) {
    this.inner = inner;
  }

  async read(ref: ObjectRef): ReturnType<StatusApi<WidgetStatus>['read']> {
    this.reads++;
    return this.inner.read(ref);
  }

  async patchStatus(ref: ObjectRef, rv: string, patch: unknown): Promise<void> {
    const hook = this.beforePatch;
    this.beforePatch = undefined;
    await hook?.();
    this.patches++;
    try {
      await this.inner.patchStatus(ref, rv, patch);
    } catch (err) {
      if (isConflict(err)) this.conflicts++;
      throw err;
    }
  }
}

async function getWidget(ns: string, name: string): Promise<{ metadata: { resourceVersion: string }; spec: unknown; status?: WidgetStatus }> {
  return (await custom.getNamespacedCustomObject({ ...WIDGET, namespace: ns, name })) as never;
}

const t = suite<{ ns: string; api: Counting }>('runtime: status writer', { ns: '', api: undefined as never });

t.before(async () => {
  await ensureWidgetCrd(kc);
});

t.before.each(async (ctx) => {
  ctx.ns = await createNamespace('runtime-status');
  ctx.api = new Counting(customObjectStatusApi<WidgetStatus>(kc, WIDGET));
  await custom.createNamespacedCustomObject({
    ...WIDGET,
    namespace: ctx.ns,
    body: { apiVersion: `${WIDGET.group}/${WIDGET.version}`, kind: WIDGET.kind, metadata: { name: 'w' }, spec: { size: 3 } },
  });
});

t.after.each(async ({ ns }) => {
  await deleteNamespace(ns);
});

t('writes status, then skips the write when nothing changed', async ({ ns, api }) => {
  const ref = { namespace: ns, name: 'w' };
  assert.is(await writeStatus({ api, ref, mutate: () => ({ count: 1, note: 'first' }) }), 'written');
  const after = await getWidget(ns, 'w');
  assert.equal(after.status, { count: 1, note: 'first' });
  assert.equal(after.spec, { size: 3 }, 'spec untouched');
  const metrics = createRuntimeMetrics();
  assert.is(await writeStatus({ api, ref, metrics, mutate: (cur) => ({ ...cur.status }) }), 'unchanged');
  assert.is(api.patches, 1, 'no second PATCH went to the server');
  assert.is((await getWidget(ns, 'w')).metadata.resourceVersion, after.metadata.resourceVersion);
  assert.match(await metrics.registry.metrics(), 'tresor_status_writes_total{result="unchanged"} 1');
});

t('a real 409 is retried from a fresh read; the other writer\'s change is kept', async ({ ns, api }) => {
  const ref = { namespace: ns, name: 'w' };
  await writeStatus({ api, ref, mutate: () => ({ count: 0 }) });
  api.patches = 0;
  api.beforePatch = async (): Promise<void> => {
    // Another writer gets in between our read and our patch, bumping resourceVersion.
    await custom.patchNamespacedCustomObjectStatus(
      { ...WIDGET, namespace: ns, name: 'w', body: { status: { count: 10, writer: 'other' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  };
  const r = await writeStatus({ api, ref, mutate: (cur) => ({ ...cur.status, count: (cur.status?.count ?? 0) + 1 }) });
  assert.is(r, 'written');
  assert.is(api.conflicts, 1, 'the server really answered 409 once');
  assert.is(api.patches, 2);
  assert.equal((await getWidget(ns, 'w')).status, { count: 11, writer: 'other' });
});

t('fields dropped from the computed status are removed on the server', async ({ ns, api }) => {
  const ref = { namespace: ns, name: 'w' };
  await writeStatus({ api, ref, mutate: () => ({ count: 1, note: 'transient detail' }) });
  await writeStatus({ api, ref, mutate: () => ({ count: 2 }) });
  assert.equal((await getWidget(ns, 'w')).status, { count: 2 });
});

t('a deleted object reports gone instead of failing', async ({ ns, api }) => {
  await custom.deleteNamespacedCustomObject({ ...WIDGET, namespace: ns, name: 'w' });
  assert.is(await writeStatus({ api, ref: { namespace: ns, name: 'w' }, mutate: () => ({ count: 1 }) }), 'gone');
});

t.run();
