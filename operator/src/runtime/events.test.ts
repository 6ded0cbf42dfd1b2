// The event recorder: specific reasons enforced, spam suppressed, failures never propagate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CoreV1Event } from '@kubernetes/client-node';
import { FakeClock } from './clock.ts';
import { EventRecorder, type EventSink } from './events.ts';

class Sink implements EventSink {
  events: { ns: string; e: CoreV1Event }[] = [];
  fail = false;
  async create(ns: string, e: CoreV1Event): Promise<void> {
    if (this.fail) throw new Error('apiserver down');
    this.events.push({ ns, e });
  }
}

const vm = { apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name: 'job1', namespace: 'ns', uid: 'u1', resourceVersion: '7' } };

test('an event names its object, reason, type and component', async () => {
  const sink = new Sink();
  const r = new EventRecorder({ sink, component: 'tresor-controller', instance: 'pod-0', clock: new FakeClock() });
  await r.warning(vm, 'FreezeFailed', 'guest agent did not answer within 10s; continuing crash-consistent');
  const { ns, e } = sink.events[0]!;
  assert.is(ns, 'ns');
  assert.equal(e.involvedObject, { apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', name: 'job1', namespace: 'ns', uid: 'u1', resourceVersion: '7' });
  assert.is(e.type, 'Warning');
  assert.is(e.reason, 'FreezeFailed');
  assert.is(e.source?.component, 'tresor-controller');
  assert.is(e.reportingInstance, 'pod-0');
  assert.match(e.metadata.name!, /^job1\./);
});

test('vague or malformed reasons are rejected', async () => {
  const r = new EventRecorder({ sink: new Sink(), component: 'c' });
  for (const bad of ['', 'error', 'Freeze failed', 'X']) {
    await r.normal(vm, bad, 'm').then(() => assert.unreachable(bad), (e: Error) => assert.match(e.message, 'CamelCase'));
  }
});

test('identical events within the window are suppressed; a new message or a later time gets through', async () => {
  const sink = new Sink();
  const clock = new FakeClock();
  const r = new EventRecorder({ sink, component: 'c', clock, dedupeWindowMs: 60_000 });
  await r.warning(vm, 'VaultUnavailable', 'connect ECONNREFUSED');
  await r.warning(vm, 'VaultUnavailable', 'connect ECONNREFUSED');
  await r.warning(vm, 'VaultUnavailable', 'timeout');
  clock.advance(60_000);
  await r.warning(vm, 'VaultUnavailable', 'connect ECONNREFUSED');
  assert.equal(sink.events.map((x) => x.e.message), ['connect ECONNREFUSED', 'timeout', 'connect ECONNREFUSED']);
  const names = new Set(sink.events.map((x) => x.e.metadata.name));
  assert.is(names.size, 3, 'event names are unique');
});

test('a failing sink never throws into the reconciler', async () => {
  const sink = new Sink();
  sink.fail = true;
  const r = new EventRecorder({ sink, component: 'c' });
  await r.normal(vm, 'BackupStarted', 'm');
  assert.is(sink.events.length, 0);
});

test('long messages are truncated to the API limit', async () => {
  const sink = new Sink();
  await new EventRecorder({ sink, component: 'c' }).normal(vm, 'Long', 'x'.repeat(5000));
  assert.is(sink.events[0]!.e.message!.length, 1024);
});

test.run();
