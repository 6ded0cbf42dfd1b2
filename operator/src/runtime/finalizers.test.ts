// The finalizer helper against an in-memory API: idempotent, conflict-safe, NotFound-tolerant.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiException } from '@kubernetes/client-node';
import { ensureFinalizer, type FinalizerApi, handleFinalizer, type MetadataSnapshot, removeFinalizer } from './finalizers.ts';

const F = 'tresor.io/cleanup';
const ref = { namespace: 'ns', name: 'a' };

class FakeApi implements FinalizerApi {
  rv = 1;
  finalizers: string[] = [];
  deleting = false;
  exists = true;
  patches = 0;
  interfere: (() => void) | undefined;

  async read(): Promise<MetadataSnapshot | undefined> {
    return this.exists ? { resourceVersion: String(this.rv), finalizers: [...this.finalizers], deleting: this.deleting } : undefined;
  }

  async patchFinalizers(_r: unknown, rv: string, finalizers: readonly string[]): Promise<void> {
    const hook = this.interfere;
    this.interfere = undefined;
    hook?.();
    if (!this.exists) throw new ApiException(404, 'gone', {}, {});
    if (rv !== String(this.rv)) throw new ApiException(409, 'conflict', {}, {});
    this.patches++;
    this.finalizers = [...finalizers];
    this.rv++;
  }
}

test('ensure adds once; a second call is a no-op without a write', async () => {
  const api = new FakeApi();
  assert.is(await ensureFinalizer(api, ref, F), 'added');
  assert.is(await ensureFinalizer(api, ref, F), 'present');
  assert.equal(api.finalizers, [F]);
  assert.is(api.patches, 1);
});

test('a conflicting writer\'s finalizer survives our add (re-read, not overwrite)', async () => {
  const api = new FakeApi();
  api.interfere = () => {
    api.finalizers = ['other.io/x'];
    api.rv++;
  };
  assert.is(await ensureFinalizer(api, ref, F), 'added');
  assert.equal(api.finalizers, ['other.io/x', F]);
});

test('remove is idempotent and leaves other finalizers', async () => {
  const api = new FakeApi();
  api.finalizers = ['other.io/x', F];
  assert.is(await removeFinalizer(api, ref, F), 'removed');
  assert.is(await removeFinalizer(api, ref, F), 'absent');
  assert.equal(api.finalizers, ['other.io/x']);
});

test('NotFound on read or during the write is success', async () => {
  const api = new FakeApi();
  api.exists = false;
  assert.is(await ensureFinalizer(api, ref, F), 'gone');
  assert.is(await removeFinalizer(api, ref, F), 'gone');
  const api2 = new FakeApi();
  api2.finalizers = [F];
  api2.interfere = () => void (api2.exists = false);
  assert.is(await removeFinalizer(api2, ref, F), 'gone');
});

test('no finalizer is added to an object already being deleted', async () => {
  const api = new FakeApi();
  api.deleting = true;
  assert.is(await ensureFinalizer(api, ref, F), 'deleting');
  assert.is(api.patches, 0);
});

test('handleFinalizer: live object gets the finalizer; deleting object is cleaned up, then released', async () => {
  const api = new FakeApi();
  const cleaned: string[] = [];
  const cleanup = async (): Promise<void> => void cleaned.push('x');
  const live = { metadata: { name: 'a', namespace: 'ns' } };
  assert.is(await handleFinalizer({ api, object: live, ref, finalizer: F, cleanup }), 'continue');
  assert.equal(api.finalizers, [F]);
  const deleting = { metadata: { name: 'a', namespace: 'ns', finalizers: [F], deletionTimestamp: new Date() } };
  api.deleting = true;
  assert.is(await handleFinalizer({ api, object: deleting, ref, finalizer: F, cleanup }), 'finalized');
  assert.equal(cleaned, ['x']);
  assert.equal(api.finalizers, []);
});

test('handleFinalizer keeps the finalizer when cleanup fails, so deletion waits for a retry', async () => {
  const api = new FakeApi();
  api.finalizers = [F];
  api.deleting = true;
  const deleting = { metadata: { name: 'a', namespace: 'ns', finalizers: [F], deletionTimestamp: new Date() } };
  const err = await handleFinalizer({ api, object: deleting, ref, finalizer: F, cleanup: async () => { throw new Error('s3 down'); } }).catch((e: unknown) => e);
  assert.instance(err, Error);
  assert.equal(api.finalizers, [F]);
});

test.run();
