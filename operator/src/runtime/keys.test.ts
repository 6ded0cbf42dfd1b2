// Queue keys round-trip and owner references map children to their owner's key.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keyOf, ownerKeys, parseKey } from './keys.ts';

test('namespaced and cluster-scoped keys round-trip', () => {
  assert.is(keyOf({ metadata: { namespace: 'ns', name: 'a' } }), 'ns/a');
  assert.is(keyOf({ metadata: { name: 'node1' } }), 'node1');
  assert.equal(parseKey('ns/a'), { namespace: 'ns', name: 'a' });
  assert.equal(parseKey('node1'), { namespace: undefined, name: 'node1' });
  assert.throws(() => keyOf({ kind: 'Pod', metadata: {} }), /has no metadata.name/);
});

test('ownerKeys picks controller owners of the given kind', () => {
  const ref = (kind: string, name: string, controller: boolean): { apiVersion: string; kind: string; name: string; uid: string; controller: boolean } => ({ apiVersion: 'v1', kind, name, uid: name, controller });
  const pod = { metadata: { namespace: 'ns', name: 'p', ownerReferences: [ref('VirtualMachineBackup', 'j', true), ref('VirtualMachineBackup', 'k', false), ref('Other', 'o', true)] } };
  assert.equal(ownerKeys(pod, 'VirtualMachineBackup'), ['ns/j']);
  assert.equal(ownerKeys(pod, 'VirtualMachineBackup', false), ['ns/j', 'ns/k']);
});

test.run();
