// The operations server over real loopback HTTP (no cluster needed).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRuntimeMetrics } from './metrics.ts';
import { OpsServer } from './server.ts';

test('serves metrics, and probes that report which check failed', async () => {
  const metrics = createRuntimeMetrics();
  metrics.reconcileTotal.inc({ controller: 'c', outcome: 'done' });
  let synced = false;
  const server = new OpsServer({
    registry: metrics.registry,
    port: 0,
    host: '127.0.0.1',
    liveness: [{ name: 'loop', check: () => true }],
    readiness: [{ name: 'informers-synced', check: () => synced }, { name: 'boom', check: () => { throw new Error('x'); } }],
  });
  const port = await server.listen();
  const get = async (path: string): Promise<{ status: number; body: string; type: string | null }> => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
  };
  try {
    const m = await get('/metrics');
    assert.is(m.status, 200);
    assert.match(m.body, 'tresor_reconcile_total{controller="c",outcome="done"} 1');
    assert.match(m.type ?? '', 'text/plain');
    assert.equal(await get('/healthz'), { status: 200, body: 'ok\n', type: 'text/plain' });
    const notReady = await get('/readyz');
    assert.is(notReady.status, 503);
    assert.match(notReady.body, '[-]informers-synced failed');
    assert.match(notReady.body, '[-]boom failed');
    synced = true;
    assert.match((await get('/readyz')).body, '[+]informers-synced ok');
    assert.is((await get('/nope')).status, 404);
    assert.match((await get('/healthz?verbose')).body, '[+]loop ok');
  } finally {
    await server.close();
  }
});

test.run();
