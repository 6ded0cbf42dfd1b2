import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VirtualMachineBackupObject } from '../api/types.ts';
import type { BackupCluster, JobRef, JobStatusUpdate } from '../backup/ports.ts';
import type { BackupWorkflows, JobResult } from '../backup/workflow.ts';
import type { FinalizerApi, MetadataSnapshot } from '../runtime/finalizers.ts';
import { BackupController, type BackupControllerDeps, failureReason, isStoreLost } from './backup.ts';

function fakes(result: Promise<JobResult>, over: Partial<BackupControllerDeps> = {}): { controller: BackupController; calls: string[]; meta: { snap: MetadataSnapshot } } {
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
    cleanup: async (j: JobRef, o: { keepSnapshots: boolean }) => void calls.push(`cleanup ${j.name} keep=${o.keepSnapshots}`),
    writeStatus: async (_j: JobRef, u: JobStatusUpdate) => void calls.push(`status ${String(u.fields.phase)} ${u.conditions[0]?.reason}`),
  } as unknown as BackupCluster;
  const workflows: BackupWorkflows = {
    start: async (j) => {
      calls.push(`start ${j.uid}`);
      return { getResult: () => result };
    },
    registerQueues: async () => {},
  };
  const controller = new BackupController({ cluster, workflows, finalizers, control: { cancel: async (uid) => void calls.push(`cancel ${uid}`) }, ...over });
  return { controller, calls, meta };
}

const job = (over: Partial<VirtualMachineBackupObject['metadata']> = {}, phase?: string): VirtualMachineBackupObject => ({
  apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup',
  metadata: { name: 'b1', namespace: 'ns', uid: 'u1', ...over },
  spec: { vmName: 'web', vaultRef: { name: 'v' } },
  ...(phase ? { status: { phase: phase as 'Running' } } : {}),
});
const ctx = { key: 'ns/b1', signal: new AbortController().signal, retries: 0 };

test('a new job gets the finalizer, then its workflow (started once)', async () => {
  const { controller, calls } = fakes(Promise.resolve({ phase: 'Succeeded', recoveryPoint: 'b1' }));
  await controller.reconcile(job(), ctx);
  await controller.reconcile(job({ finalizers: ['tresor.io/cleanup'] }), ctx);
  assert.equal(calls.slice(0, 2), ['finalizers=tresor.io/cleanup', 'start u1']);
  await controller.idle();
});

test('a workflow that throws marks the job Failed with the typed reason, after cleanup', async () => {
  const err = Object.assign(new Error('VirtualMachine ns/web not found'), { reason: 'VirtualMachineNotFound' });
  const { controller, calls } = fakes(Promise.reject(err));
  await controller.reconcile(job(), ctx);
  await controller.idle();
  assert.equal(calls.slice(-2), ['cleanup b1 keep=false', 'status Failed VirtualMachineNotFound']);
});

test('deleting an in-flight job cancels its workflow, cleans up, then drops the finalizer', async () => {
  const { controller, calls, meta } = fakes(new Promise(() => {}));
  meta.snap = { resourceVersion: '2', finalizers: ['tresor.io/cleanup'], deleting: true };
  await controller.reconcile(job({ finalizers: ['tresor.io/cleanup'], deletionTimestamp: new Date() }, 'Running'), ctx);
  assert.equal(calls, ['cancel u1', 'cleanup b1 keep=false', 'finalizers=']);
});

test('failure reasons: typed reason wins, else the step named in the message', () => {
  assert.is(failureReason(Object.assign(new Error('x'), { reason: 'PolicyNotFound' })), 'PolicyNotFound');
  assert.is(failureReason(new Error('transfer pod x failed')), 'TransferFailed');
  assert.is(failureReason(new Error('snapshot pod x failed')), 'SnapshotFailed');
  assert.is(failureReason(Object.assign(new Error('x'), { reason: 'not a reason' })), 'SnapshotFailed');
});

// What pg raises once the database is dropped, wrapped as a caller might wrap it.
const dbGone = (): Error => new Error('awaiting workflow u1', { cause: Object.assign(new Error('database "tresor" does not exist'), { code: '3D000' }) });

test('a workflow that threw because the workflow database is gone leaves the job and its children alone and reports the loss', async () => {
  const lost: unknown[] = [];
  const { controller, calls } = fakes(Promise.reject(dbGone()), { onStoreLost: (e) => void lost.push(e) });
  await controller.reconcile(job(), ctx);
  await controller.idle();
  assert.equal(calls, ['finalizers=tresor.io/cleanup', 'start u1'], 'no cleanup, no status write');
  assert.is(lost.length, 1);
});

test('a workflow that cannot start because the workflow database is gone reports the loss and fails the pass', async () => {
  const lost: unknown[] = [];
  const { controller } = fakes(Promise.resolve({ phase: 'Succeeded', recoveryPoint: 'b1' }), {
    onStoreLost: (e) => void lost.push(e),
    workflows: { start: async () => Promise.reject(dbGone()), registerQueues: async () => {} },
  });
  await controller.reconcile(job(), ctx).then(() => assert.unreachable('the pass must fail'), (e: Error) => assert.match(e.message, /awaiting workflow/));
  assert.is(lost.length, 1);
});

test('the workflow database counts as lost only when it or its tables do not exist, not during an outage', () => {
  assert.ok(isStoreLost(dbGone()));
  assert.ok(isStoreLost(Object.assign(new Error('x'), { code: '42P01' })));
  assert.ok(isStoreLost(new Error('relation "dbos.workflow_status" does not exist')));
  assert.not.ok(isStoreLost(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })));
  assert.not.ok(isStoreLost(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })));
  assert.not.ok(isStoreLost(new Error('transfer pod x failed')));
  assert.not.ok(isStoreLost(undefined));
});

test.run();
