// Readiness over real informers: an informer whose API is not served (a 404 on the collection, as when
// KubeVirt is not installed) keeps /readyz failing with a message naming that API, and the others do not
// mask it; once the API appears and the list succeeds, the operator turns ready.
import { ApiException, KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Informer } from './informer.ts';
import { apiListWatch } from './listwatch.ts';
import { informerReadiness } from './manager.ts';
import { createRuntimeMetrics } from './metrics.ts';
import { OpsServer } from './server.ts';

const emptyList = { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '7' }, items: [] } satisfies KubernetesListObject<KubernetesObject>;

function informerOn(path: string, list: () => Promise<KubernetesListObject<KubernetesObject>>): Informer<KubernetesObject> {
  const source = apiListWatch({ kubeConfig: new KubeConfig(), path, list });
  // The watch never connects in this test (no apiserver): only the list decides readiness.
  return new Informer({ resource: path.split('/').pop()!, source: { list: () => source.list(), watch: async () => ({ abort: () => {} }) }, baseBackoffMs: 5, maxBackoffMs: 20 });
}

test('a missing API keeps /readyz failing and names the API; serving it makes the operator ready', async () => {
  let kubevirtInstalled = false;
  const vms = informerOn('/apis/kubevirt.io/v1/virtualmachines', async () => {
    if (!kubevirtInstalled) throw new ApiException(404, 'Unknown API Status Code!', '404 page not found', {});
    return emptyList;
  });
  const jobs = informerOn('/apis/tresor.io/v1alpha1/virtualmachinebackups', async () => emptyList);
  const server = new OpsServer({ registry: createRuntimeMetrics().registry, port: 0, host: '127.0.0.1', readiness: informerReadiness([jobs, vms, jobs]) });
  const port = await server.listen();
  const readyz = async (): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    return { status: r.status, body: await r.text() };
  };
  jobs.start();
  vms.start();
  try {
    await jobs.waitForSync();
    let r = await readyz();
    for (let i = 0; i < 200 && !r.body.includes('kubevirt.io'); i++) {
      await new Promise((res) => setTimeout(res, 10));
      r = await readyz();
    }
    assert.is(r.status, 503);
    assert.match(r.body, '[+]informer-virtualmachinebackups-synced ok');
    assert.match(r.body, '[-]informer-virtualmachines-synced failed: /apis/kubevirt.io/v1/virtualmachines is not served by the API server (404)');
    assert.is(r.body.split('\n').filter((l) => l.includes('virtualmachinebackups')).length, 1, 'one check per distinct informer');
    kubevirtInstalled = true;
    await vms.waitForSync();
    r = await readyz();
    assert.equal(r, { status: 200, body: 'ok\n' });
  } finally {
    await Promise.all([jobs.stop(), vms.stop()]);
    await server.close();
  }
});

test.run();
