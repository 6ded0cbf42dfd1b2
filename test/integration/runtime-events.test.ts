// The event recorder against the real apiserver: the Event exists with our reason, type, message and an
// involvedObject that points at the object (so `kubectl describe` lists it).
import { CoreV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createNamespace, deleteNamespace, eventually, kubeConfig, kubectl } from '../harness.ts';
import { coreEventSink, EventRecorder } from '../../operator/src/runtime/events.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const t = suite<{ ns: string }>('runtime: events', { ns: '' });

t.before.each(async (ctx) => {
  ctx.ns = await createNamespace('runtime-events');
});

t.after.each(async ({ ns }) => {
  await deleteNamespace(ns);
});

t('a Warning event is created against the object and shows in kubectl describe', async ({ ns }) => {
  const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'subject' } } });
  const recorder = new EventRecorder({ sink: coreEventSink(kc), component: 'tresor-test', instance: 'itest-0' });
  await recorder.warning({ apiVersion: 'v1', kind: 'ConfigMap', metadata: cm.metadata }, 'FreezeFailed', 'guest agent did not answer; continuing crash-consistent');
  await recorder.normal({ apiVersion: 'v1', kind: 'ConfigMap', metadata: cm.metadata }, 'SnapshotTaken', 'two disks');
  const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.uid=${cm.metadata!.uid}` });
  const byReason = new Map(events.items.map((e) => [e.reason, e]));
  const w = byReason.get('FreezeFailed');
  assert.ok(w, 'event stored');
  assert.is(w!.type, 'Warning');
  assert.is(w!.message, 'guest agent did not answer; continuing crash-consistent');
  assert.equal(
    { kind: w!.involvedObject.kind, name: w!.involvedObject.name, namespace: w!.involvedObject.namespace, uid: w!.involvedObject.uid },
    { kind: 'ConfigMap', name: 'subject', namespace: ns, uid: cm.metadata!.uid },
  );
  assert.is(w!.source?.component, 'tresor-test');
  assert.is(byReason.get('SnapshotTaken')?.type, 'Normal');
  const described = await eventually('describe shows events', async () => {
    const out = kubectl(['describe', 'configmap', 'subject'], { namespace: ns }).stdout;
    return out.includes('FreezeFailed') ? out : undefined;
  }, 10_000);
  assert.match(described, /Warning\s+FreezeFailed/);
});

t.run();
