// The controller-manager process wiring with fake informers, controllers and Lease (no cluster).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeConfig } from '@kubernetes/client-node';
import type { RuntimeConfig } from './config.ts';
import type { LeaseApi, LeaseRecord, LeaseSnapshot } from './leader.ts';
import { silentLogger } from './log.ts';
import type { ManagedInformer } from './manager.ts';
import { runControllerManager } from './operator.ts';

const config = (leader: boolean): RuntimeConfig => ({
  opsPort: 0,
  workers: 1,
  watchQuietTimeoutMs: 1000,
  relistIntervalMs: 0,
  leaderElection: { enabled: leader, namespace: 'ns', leaseName: 'l', identity: 'me', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 100 },
});

class MemLease implements LeaseApi {
  snap: LeaseSnapshot | undefined;
  async get(): Promise<LeaseSnapshot | undefined> {
    return this.snap;
  }
  async create(record: LeaseRecord): Promise<LeaseSnapshot> {
    this.snap = { resourceVersion: '1', record };
    return this.snap;
  }
  async update(rv: string, record: LeaseRecord): Promise<LeaseSnapshot> {
    this.snap = { resourceVersion: String(Number(rv) + 1), record };
    return this.snap;
  }
}

function informer(): ManagedInformer & { synced: boolean } {
  const inf = {
    resource: 'things',
    synced: false,
    start(): void {
      inf.synced = true;
    },
    async stop(): Promise<void> {},
    async waitForSync(): Promise<void> {},
    hasSynced: (): boolean => inf.synced,
  };
  return inf;
}

test('serves readiness, leads through the Lease, runs controllers, and exits 0 on stop after releasing', async () => {
  const stop = new AbortController();
  const lease = new MemLease();
  let running = false;
  let port = 0;
  const exit = runControllerManager({
    config: config(true),
    kubeConfig: new KubeConfig(),
    signal: stop.signal,
    log: silentLogger,
    leaseApi: lease,
    onListening: (p) => (port = p),
    build: () => ({
      informers: [informer()],
      controllers: [{ name: 'c', run: async (sig) => { running = true; await new Promise((r) => sig.addEventListener('abort', r)); running = false; } }],
    }),
  });
  for (let i = 0; i < 100 && !running; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(running, 'controller runs once leading');
  assert.is(lease.snap?.record.holderIdentity, 'me');
  const ready = await fetch(`http://127.0.0.1:${port}/readyz?verbose`);
  assert.is(ready.status, 200);
  assert.match(await ready.text(), '[+]informer-things-synced ok');
  assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'tresor_leader_is_leader{lease="l"} 1');
  stop.abort();
  assert.is(await exit, 0);
  assert.not.ok(running);
  assert.is(lease.snap?.record.holderIdentity, '', 'released on stop');
  await fetch(`http://127.0.0.1:${port}/healthz`).then(() => assert.unreachable('server closed'), () => undefined);
});

test.run();
