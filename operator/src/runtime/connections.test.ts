// Request classification as the apiserver's own apiserver_request_total labels verbs and resources.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyRequest } from './connections.ts';

test('verbs and resources of API paths', () => {
  const c = (m: string, p: string): string => Object.values(classifyRequest(m, p)).join(' ');
  assert.is(c('GET', '/apis/tresor.io/v1alpha1/namespaces/ns/virtualmachinebackups/web-1'), 'get virtualmachinebackups.tresor.io');
  assert.is(c('GET', '/apis/tresor.io/v1alpha1/namespaces/ns/virtualmachinebackups'), 'list virtualmachinebackups.tresor.io');
  assert.is(c('GET', '/apis/tresor.io/v1alpha1/virtualmachinebackups?watch=true&resourceVersion=5'), 'watch virtualmachinebackups.tresor.io');
  assert.is(c('PATCH', '/apis/tresor.io/v1alpha1/namespaces/ns/virtualmachinebackups/web-1/status'), 'patch virtualmachinebackups.tresor.io/status');
  assert.is(c('POST', '/api/v1/namespaces/ns/pods'), 'create pods');
  assert.is(c('DELETE', '/api/v1/namespaces/ns/pods/p'), 'delete pods');
  assert.is(c('PUT', '/apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachineinstances/vm/freeze'), 'update virtualmachineinstances.subresources.kubevirt.io/freeze');
  assert.is(c('GET', '/api/v1/namespaces/default'), 'get namespaces');
  assert.is(c('GET', '/version'), 'get nonresource');
});

test.run();
