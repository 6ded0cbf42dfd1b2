import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VirtualMachineRestoreObject } from '../api/types.ts';
import type { RestoreCluster, RestoreRef, RestoreStatusUpdate } from '../restore/ports.ts';
import type { RestoreResult, RestoreWorkflows } from '../restore/workflow.ts';
import type { FinalizerApi, MetadataSnapshot } from '../runtime/finalizers.ts';
import { RestoreController, restoreFailureReason } from './restore.ts';

function fakes(result: Promise<RestoreResult>): { controller: RestoreController; calls: string[]; meta: { snap: MetadataSnapshot } } {
  const calls: string[] = [];
  const meta = { snap: { resourceVersion: '1', finalizers: [] as readonly string[], deleting: false } };
  const finalizers: FinalizerApi = {
    read: async () => meta.snap,
    patchFinalizers: async (_ref, _rv, f) => {
      calls.push(`finalizers=${f.join(',')}`);
      meta.snap = { ...meta.snap, finalizers: f };
    },
  };
  const cluster = {
    cleanup: async (r: RestoreRef, o: { keepTarget: boolean }) => void calls.push(`cleanup ${r.name} keepTarget=${o.keepTarget}`),
    writeStatus: async (_r: RestoreRef, u: RestoreStatusUpdate) => void calls.push(`status ${String(u.fields.phase)} ${u.conditions[0]?.reason}`),
  } as unknown as RestoreCluster;
  const workflows: RestoreWorkflows = {
    start: async (r) => {
      calls.push(`start ${r.uid}`);
      return { getResult: () => result };
    },
  };
  const controller = new RestoreController({ cluster, workflows, finalizers, control: { cancel: async (uid) => void calls.push(`cancel ${uid}`) } });
  return { controller, calls, meta };
}

const restore = (over: Partial<VirtualMachineRestoreObject['metadata']> = {}, phase?: string): VirtualMachineRestoreObject => ({
  apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore',
  metadata: { name: 'r1', namespace: 'ns', uid: 'u1', ...over },
  spec: { recoveryPointRef: { name: 'rp' }, target: { newVMName: 'copy' } },
  ...(phase ? { status: { phase: phase as 'Running' } } : {}),
});
const ctx = { key: 'ns/r1', signal: new AbortController().signal, retries: 0 };

test('a new restore gets the finalizer, then its workflow (started once while it runs)', async () => {
  const { controller, calls } = fakes(new Promise(() => {}));
  await controller.reconcile(restore(), ctx);
  await controller.reconcile(restore({ finalizers: ['tresor.io/cleanup'] }), ctx);
  assert.equal(calls, ['finalizers=tresor.io/cleanup', 'start u1']);
});

test('a finished restore is left alone', async () => {
  const { controller, calls, meta } = fakes(new Promise(() => {}));
  meta.snap = { ...meta.snap, finalizers: ['tresor.io/cleanup'] };
  await controller.reconcile(restore({ finalizers: ['tresor.io/cleanup'] }, 'Succeeded'), ctx);
  assert.equal(calls, []);
});

test('a workflow that throws marks the restore Failed with the typed reason, after cleanup of its target', async () => {
  const err = Object.assign(new Error('VirtualMachine copy already exists'), { reason: 'TargetExists' });
  const { controller, calls } = fakes(Promise.reject(err));
  await controller.reconcile(restore(), ctx);
  await controller.idle();
  assert.equal(calls.slice(-2), ['cleanup r1 keepTarget=false', 'status Failed TargetExists']);
});

test('deleting an in-flight restore cancels its workflow, removes what it created, then drops the finalizer', async () => {
  const { controller, calls, meta } = fakes(new Promise(() => {}));
  meta.snap = { resourceVersion: '2', finalizers: ['tresor.io/cleanup'], deleting: true };
  await controller.reconcile(restore({ finalizers: ['tresor.io/cleanup'], deletionTimestamp: new Date() }, 'Running'), ctx);
  assert.equal(calls, ['cancel u1', 'cleanup r1 keepTarget=false', 'finalizers=']);
});

test('deleting a finished restore keeps its VM and PVCs', async () => {
  const { controller, calls, meta } = fakes(new Promise(() => {}));
  meta.snap = { resourceVersion: '2', finalizers: ['tresor.io/cleanup'], deleting: true };
  await controller.reconcile(restore({ finalizers: ['tresor.io/cleanup'], deletionTimestamp: new Date() }, 'Succeeded'), ctx);
  assert.equal(calls, ['cleanup r1 keepTarget=true', 'finalizers=']);
});

test('failure reasons: a known typed reason wins, else RestoreFailed', () => {
  assert.is(restoreFailureReason(Object.assign(new Error('x'), { reason: 'Cancelled' })), 'Cancelled');
  assert.is(restoreFailureReason(Object.assign(new Error('x'), { reason: 'NameConflict' })), 'RestoreFailed');
  assert.is(restoreFailureReason(new Error('restore pod failed')), 'RestoreFailed');
});

test.run();
