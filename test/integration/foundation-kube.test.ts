// The local control plane is the real thing: a CRD is installed and served, a client-node informer sees
// objects, kube-controller-manager's garbage collector deletes an owned child with its owner, and the
// apiserver validates objects against the CRD's schema.
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, makeInformer, type KubernetesObject, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNamespace, deleteNamespace, eventually, kubeConfig, kubectl } from '../harness.ts';

const GROUP = 'foundation-test.tresor.io';
const PLURAL = 'gadgets';

const crd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: PLURAL, singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
    versions: [{
      name: 'v1', served: true, storage: true,
      schema: { openAPIV3Schema: {
        type: 'object',
        properties: { spec: { type: 'object', required: ['size'], properties: { size: { type: 'integer', minimum: 1, maximum: 10 } } } },
      } },
    }],
  },
};

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const t = suite<{ ns: string }>('foundation: control plane', { ns: '' });

t.before(async (ctx) => {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  try {
    await ext.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  await eventually('the CRD to be Established', async () => {
    const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
    return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  });
  ctx.ns = await createNamespace('foundation');
});

t.after(async (ctx) => {
  if (ctx.ns) await deleteNamespace(ctx.ns);
});

t('the CRD is served: its resource is in discovery', () => {
  const r = kubectl(['api-resources', '--api-group', GROUP, '-o', 'name']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), `${PLURAL}.${GROUP}`);
});

t('an object created through the API is seen by a client-node informer', async ({ ns }) => {
  const path = `/apis/${GROUP}/v1/namespaces/${ns}/${PLURAL}`;
  const informer = makeInformer<KubernetesObject>(kc, path, () =>
    custom.listNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: ns, plural: PLURAL }));
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(o.metadata?.name ?? '?'));
  // client-node's informer stops on any error, and a CRD this fresh answers 429 "storage is
  // (re)initializing" until its watch cache is ready: restart after the server's retry delay.
  let stopped = false;
  const restart = (): void => {
    if (!stopped) setTimeout(() => { if (!stopped) informer.start().catch(restart); }, 1000);
  };
  informer.on('error', restart);
  await informer.start().catch(restart);
  try {
    await custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: ns, plural: PLURAL,
      body: { apiVersion: `${GROUP}/v1`, kind: 'Gadget', metadata: { name: 'seen-by-informer' }, spec: { size: 3 } } });
    await eventually('the informer to report the add', async () => (seen.includes('seen-by-informer') ? true : undefined), 30_000);
    assert.ok(informer.get('seen-by-informer', ns), 'the informer cache holds the object');
  } finally {
    stopped = true;
    await informer.stop();
  }
});

t('an owned child is deleted by the garbage collector when its owner is deleted', async ({ ns }) => {
  const owner = (await custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: ns, plural: PLURAL,
    body: { apiVersion: `${GROUP}/v1`, kind: 'Gadget', metadata: { name: 'owner' }, spec: { size: 1 } } })) as KubernetesObject;
  await core.createNamespacedConfigMap({ namespace: ns, body: {
    metadata: { name: 'child', ownerReferences: [{ apiVersion: `${GROUP}/v1`, kind: 'Gadget', name: 'owner', uid: owner.metadata!.uid! }] },
    data: { a: 'b' },
  } });
  await custom.deleteNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: ns, plural: PLURAL, name: 'owner' });
  await eventually('the child ConfigMap to be garbage-collected', async () => {
    try {
      await core.readNamespacedConfigMap({ name: 'child', namespace: ns });
      return undefined;
    } catch (err) {
      return (err as { code?: number }).code === 404 ? true : undefined;
    }
  }, 60_000);
});

t('the apiserver rejects an object that breaks the schema, naming the field', async ({ ns }) => {
  const r = kubectl(['apply', '-f', '-'], { namespace: ns, input: JSON.stringify({
    apiVersion: `${GROUP}/v1`, kind: 'Gadget', metadata: { name: 'too-big' }, spec: { size: 11 } }) });
  assert.is.not(r.code, 0, 'a size above the maximum must be refused');
  assert.match(r.stderr, /spec\.size/);
  assert.match(r.stderr, /less than or equal to 10/);
});

t.run();
