// Connection reuse against the real apiserver (TLS with a client certificate): client-node alone opens a
// new connection, with a full TLS handshake, for every API call; through reuseConnections the calls share
// one kept-alive connection, and the connect hook counts exactly the connections opened. Connections are
// counted independently of our hook, from undici's own diagnostics channel.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { countApiRequests, reuseConnections } from '../../operator/src/runtime/connections.ts';
import { kubeConfig } from '../harness.ts';

const CALLS = 8;
const t = suite('API connections are pooled and kept alive');

async function connectionsFor(kc: KubeConfig): Promise<number> {
  let opened = 0;
  const onConnected = (): void => void opened++;
  subscribe('undici:client:connected', onConnected);
  try {
    const core = kc.makeApiClient(CoreV1Api);
    // Sequential, as a reconcile pass makes them: each call may reuse the previous one's connection.
    for (let i = 0; i < CALLS; i++) await core.readNamespace({ name: 'default' });
  } finally {
    unsubscribe('undici:client:connected', onConnected);
  }
  return opened;
}

t('client-node alone handshakes per call; reuseConnections opens one connection for all of them', async () => {
  const before = await connectionsFor(kubeConfig());
  assert.is(before, CALLS, 'without reuse every call opens its own connection (the problem this fixes)');
  let hooked = 0;
  const after = await connectionsFor(reuseConnections(kubeConfig(), { onConnect: () => void hooked++ }));
  assert.is(after, 1, `${CALLS} sequential calls over one connection`);
  assert.is(hooked, after, 'the metric hook counts the connections opened');
});

t('parallel calls share a bounded pool and reuse it afterwards', async () => {
  let opened = 0;
  const kc = reuseConnections(kubeConfig(), { onConnect: () => void opened++ });
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(Array.from({ length: 5 }, () => core.readNamespace({ name: 'default' })));
  const afterBurst = opened;
  assert.ok(afterBurst >= 1 && afterBurst <= 5, `a burst of 5 opened ${afterBurst}`);
  for (let i = 0; i < CALLS; i++) await core.readNamespace({ name: 'default' });
  assert.is(opened, afterBurst, 'later calls reuse the open connections');
  assert.is(reuseConnections(kc), kc, 'idempotent');
});

t('requests are counted by verb and resource, only those to the API server', async () => {
  const kc = reuseConnections(kubeConfig());
  const seen: string[] = [];
  const ac = new AbortController();
  countApiRequests(kc.getCurrentCluster()!.server, (verb, resource) => seen.push(`${verb} ${resource}`), ac.signal);
  const core = kc.makeApiClient(CoreV1Api);
  await core.readNamespace({ name: 'default' });
  await core.listNamespacedConfigMap({ namespace: 'default' });
  await fetch('http://127.0.0.1:9/').catch(() => undefined); // another origin: not counted
  ac.abort();
  await core.readNamespace({ name: 'default' }); // after stop: not counted
  assert.equal(seen, ['get namespaces', 'list configmaps']);
});

t.run();
