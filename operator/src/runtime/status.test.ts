// The status writer's loop against an in-memory API that can be made to conflict.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiException } from '@kubernetes/client-node';
import { classifyError } from './errors.ts';
import type { ObjectRef } from './keys.ts';
import { deepEqual, mergePatch, type StatusApi, type StatusSnapshot, writeStatus } from './status.ts';

interface Status {
  phase?: string;
  count?: number;
  detail?: { a?: number; b?: number };
}

/** One stored object; `interfere` runs between a read and the following patch, like another writer. */
class FakeStatusApi implements StatusApi<Status> {
  rv = 1;
  status: Status | undefined = undefined;
  exists = true;
  reads = 0;
  patches: unknown[] = [];
  interfere: (() => void) | undefined;

  async read(_ref: ObjectRef): Promise<StatusSnapshot<Status> | undefined> {
    this.reads++;
    if (!this.exists) return undefined;
    return { resourceVersion: String(this.rv), generation: 1, status: structuredClone(this.status) };
  }

  async patchStatus(_ref: ObjectRef, resourceVersion: string, patch: unknown): Promise<void> {
    this.interfere?.();
    if (!this.exists) throw new ApiException(404, 'not found', {}, {});
    if (resourceVersion !== String(this.rv)) throw new ApiException(409, 'conflict', {}, {});
    this.patches.push(patch);
    this.status = applyMerge(this.status, (patch as { status: unknown }).status) as Status;
    this.rv++;
  }
}

function applyMerge(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMerge(out[k], v);
  }
  return out;
}

const ref = { namespace: 'ns', name: 'a' };

test('writes a changed status with the read resourceVersion', async () => {
  const api = new FakeStatusApi();
  const r = await writeStatus({ api, ref, mutate: () => ({ phase: 'Running' }) });
  assert.is(r, 'written');
  assert.equal(api.status, { phase: 'Running' });
  assert.is(api.patches.length, 1);
});

test('skips the API call when the computed status equals the stored one', async () => {
  const api = new FakeStatusApi();
  api.status = { phase: 'Running', count: 2 };
  const r = await writeStatus({ api, ref, mutate: (cur) => ({ count: 2, phase: cur.status?.phase }) });
  assert.is(r, 'unchanged');
  assert.is(api.patches.length, 0);
});

test('on conflict it re-reads and recomputes from the other writer\'s status', async () => {
  const api = new FakeStatusApi();
  api.status = { count: 0 };
  let interfered = false;
  api.interfere = () => {
    if (interfered) return;
    interfered = true;
    api.status = { count: 10 };
    api.rv++;
  };
  const r = await writeStatus({ api, ref, mutate: (cur) => ({ count: (cur.status?.count ?? 0) + 1 }) });
  assert.is(r, 'written');
  assert.equal(api.status, { count: 11 }, 'the increment was applied to the fresh value, not lost');
  assert.is(api.reads, 2);
});

test('persistent conflicts become a transient error after maxAttempts', async () => {
  const api = new FakeStatusApi();
  api.interfere = () => void api.rv++;
  const err = await writeStatus({ api, ref, mutate: () => ({ phase: 'X' }), maxAttempts: 3 }).catch((e: unknown) => e);
  assert.is(classifyError(err), 'transient');
  assert.match((err as Error).message, 'writing status of ns/a: still conflicting after 3 attempts');
  assert.is(api.reads, 3);
});

test('an object deleted before or during the write reports gone', async () => {
  const api = new FakeStatusApi();
  api.exists = false;
  assert.is(await writeStatus({ api, ref, mutate: () => ({ phase: 'X' }) }), 'gone');
  const api2 = new FakeStatusApi();
  api2.interfere = () => void (api2.exists = false);
  assert.is(await writeStatus({ api: api2, ref, mutate: () => ({ phase: 'X' }) }), 'gone');
});

test('removed fields are nulled in the merge patch, nested objects diffed, arrays replaced', () => {
  assert.equal(mergePatch({ phase: 'A', count: 1, detail: { a: 1, b: 2 } }, { phase: 'A', detail: { a: 1, b: 3 } }), { count: null, detail: { b: 3 } });
  assert.equal(mergePatch({ list: [1, 2] }, { list: [1] }), { list: [1] });
  assert.equal(mergePatch(undefined, { x: 1 }), { x: 1 });
  const api = new FakeStatusApi();
  api.status = { phase: 'A', count: 1 };
  return writeStatus({ api, ref, mutate: () => ({ phase: 'B' }) }).then(() => assert.equal(api.status, { phase: 'B' }));
});

test('deepEqual ignores key order and undefined members', () => {
  assert.ok(deepEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
  assert.ok(deepEqual({ a: 1, u: undefined }, { a: 1 }));
  assert.not.ok(deepEqual({ a: 1 }, { a: '1' }));
  assert.not.ok(deepEqual([1], { 0: 1 }));
});

test.run();
