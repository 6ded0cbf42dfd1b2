// The manager's ordering: caches first, controllers after, everything stopped on the way out.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ManagedController, type ManagedInformer, informerReadiness, runManager, toOwner } from './manager.ts';

class FakeInformer implements ManagedInformer {
  readonly resource = 'things';
  log: string[];
  synced = false;
  private release: () => void = () => {};
  private readonly ready = new Promise<void>((r) => (this.release = r));

  constructor(log: string[]) {
    this.log = log;
  }

  start(): void {
    this.log.push('informer start');
  }
  async stop(): Promise<void> {
    this.log.push('informer stop');
  }
  waitForSync(): Promise<void> {
    return this.ready;
  }
  hasSynced(): boolean {
    return this.synced;
  }
  sync(): void {
    this.synced = true;
    this.release();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test('controllers start only after every cache synced; stop stops informers and reports stopped', async () => {
  const log: string[] = [];
  const inf = new FakeInformer(log);
  const ctl: ManagedController = {
    name: 'c',
    run: async (sig) => {
      log.push('controller run');
      await new Promise((r) => sig.addEventListener('abort', r));
      log.push('controller done');
    },
  };
  const stop = new AbortController();
  const exit = runManager({ informers: [inf], controllers: [ctl] }, stop.signal);
  await flush();
  assert.equal(log, ['informer start'], 'waiting for the cache');
  assert.not.ok(await informerReadiness([inf])[0]!.check());
  inf.sync();
  await flush();
  assert.equal(log, ['informer start', 'controller run']);
  assert.ok(await informerReadiness([inf])[0]!.check());
  stop.abort();
  assert.is(await exit, 'stopped');
  assert.equal(log, ['informer start', 'controller run', 'controller done', 'informer stop']);
});

test('a stop before the caches sync returns without running controllers', async () => {
  const log: string[] = [];
  const stop = new AbortController();
  const exit = runManager({ informers: [new FakeInformer(log)], controllers: [{ name: 'c', run: async () => void log.push('run') }] }, stop.signal);
  stop.abort();
  assert.is(await exit, 'stopped');
  assert.equal(log, ['informer start', 'informer stop']);
});

test('toOwner maps a child to its controlling owner of that kind', () => {
  const child = { metadata: { namespace: 'ns', name: 'pod', ownerReferences: [{ apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', name: 'job', uid: 'u', controller: true }] } };
  assert.equal(toOwner('VirtualMachineBackup')(child), ['ns/job']);
  assert.equal(toOwner('Other')(child), []);
});

test.run();
