// The finalizer helper against the real apiserver: add/remove are idempotent, another controller's
// finalizer survives, a finalizer really holds deletion until cleanup ran, and NotFound is success.
import { CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNamespace, deleteNamespace, eventually, kubeConfig } from '../harness.ts';
import { ensureFinalizer, handleFinalizer, objectFinalizerApi, removeFinalizer } from '../../operator/src/runtime/finalizers.ts';
import { ensureWidgetCrd, WIDGET } from './runtime-widget-crd.ts';

const F = 'runtime-test.tresor.io/cleanup';
const OTHER = 'someone-else.io/keep';
const kc = kubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const api = objectFinalizerApi(kc, { apiVersion: `${WIDGET.group}/${WIDGET.version}`, kind: WIDGET.kind });

type Widget = KubernetesObject & { metadata: NonNullable<KubernetesObject['metadata']> };

const get = async (ns: string): Promise<Widget | undefined> => {
  try {
    return (await custom.getNamespacedCustomObject({ ...WIDGET, namespace: ns, name: 'w' })) as Widget;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
};

const t = suite<{ ns: string }>('runtime: finalizers', { ns: '' });

t.before(async () => {
  await ensureWidgetCrd(kc);
});

t.before.each(async (ctx) => {
  ctx.ns = await createNamespace('runtime-finalizers');
  await custom.createNamespacedCustomObject({
    ...WIDGET,
    namespace: ctx.ns,
    body: { apiVersion: `${WIDGET.group}/${WIDGET.version}`, kind: WIDGET.kind, metadata: { name: 'w', finalizers: [OTHER] }, spec: {} },
  });
});

t.after.each(async ({ ns }) => {
  const w = await get(ns);
  if (w) await removeFinalizer(api, { namespace: ns, name: 'w' }, OTHER);
  await deleteNamespace(ns);
});

t('add and remove are idempotent and keep the other controller\'s finalizer', async ({ ns }) => {
  const ref = { namespace: ns, name: 'w' };
  assert.is(await ensureFinalizer(api, ref, F), 'added');
  assert.is(await ensureFinalizer(api, ref, F), 'present');
  assert.equal((await get(ns))?.metadata.finalizers, [OTHER, F]);
  assert.is(await removeFinalizer(api, ref, F), 'removed');
  assert.is(await removeFinalizer(api, ref, F), 'absent');
  assert.equal((await get(ns))?.metadata.finalizers, [OTHER]);
});

t('deletion waits for cleanup; after cleanup and release the object is gone', async ({ ns }) => {
  const ref = { namespace: ns, name: 'w' };
  await removeFinalizer(api, ref, OTHER);
  let obj = (await get(ns))!;
  assert.is(await handleFinalizer({ api, object: obj, ref, finalizer: F, cleanup: async () => assert.unreachable('not deleting') }), 'continue');
  await custom.deleteNamespacedCustomObject({ ...WIDGET, namespace: ns, name: 'w' });
  obj = (await get(ns))!;
  assert.ok(obj.metadata.deletionTimestamp, 'held by our finalizer');
  assert.is(await ensureFinalizer(api, ref, 'late.io/x'), 'deleting', 'no new finalizer on a deleting object');
  let cleaned = 0;
  assert.is(await handleFinalizer({ api, object: obj, ref, finalizer: F, cleanup: async () => void cleaned++ }), 'finalized');
  assert.is(cleaned, 1);
  await eventually('widget deleted', async () => ((await get(ns)) === undefined ? true : undefined), 10_000);
});

t('a missing object is success for both add and remove', async ({ ns }) => {
  const ref = { namespace: ns, name: 'nope' };
  assert.is(await ensureFinalizer(api, ref, F), 'gone');
  assert.is(await removeFinalizer(api, ref, F), 'gone');
});

t.run();
