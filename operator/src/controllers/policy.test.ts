import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupPolicyStatus } from '../api/backuppolicy.ts';
import type { RecoveryPointStatus } from '../api/recoverypoint.ts';
import type { BackupPolicyObject, BackupVaultObject, RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
import type { StatusApi } from '../runtime/status.ts';
import { CREATE_CONCURRENCY, inParallel, PolicyController, type PolicyCache } from './policy.ts';
import type { VmSummary } from './policy-plan.ts';

const NOW = Date.parse('2026-11-27T02:00:20Z');

function policy(over: Partial<BackupPolicyObject['spec']> = {}, annotations?: Record<string, string>): BackupPolicyObject {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy',
    metadata: { name: 'nightly', namespace: 'prod', generation: 2, creationTimestamp: new Date('2026-11-20T00:00:00Z'), ...(annotations ? { annotations } : {}) },
    spec: { schedule: '0 2 * * *', vmSelector: { matchLabels: { tier: 'prod' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 2 }, ...over },
    status: { lastScheduleTime: '2026-11-26T02:00:00Z' },
  } as BackupPolicyObject;
}
const readyVault = { metadata: { name: 'vault' }, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'VaultReady', message: '', lastTransitionTime: '' }] } } as unknown as BackupVaultObject;
const vms: VmSummary[] = [{ name: 'web', labels: { tier: 'prod' } }, { name: 'db', labels: { tier: 'prod' } }, { name: 'dev', labels: { tier: 'dev' } }];

function point(name: string, captured: string, expiryTime?: string): RecoveryPointObject {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint', metadata: { name, namespace: 'prod', labels: { 'tresor.io/policy': 'nightly' } },
    spec: { vmName: 'web', capturedAt: captured, sourceBackup: `job-${name}`, policyName: 'nightly', vaultRef: { name: 'vault' } },
    status: { conditions: [{ type: 'Available', status: 'True', reason: 'InVault', message: '', lastTransitionTime: '' }], ...(expiryTime ? { expiryTime } : {}) },
  } as unknown as RecoveryPointObject;
}

interface World {
  jobs: VirtualMachineBackupObject[];
  points: RecoveryPointObject[];
  vault: BackupVaultObject | undefined;
  created: string[];
  events: string[];
  status: BackupPolicyStatus | undefined;
  pointStatus: Map<string, RecoveryPointStatus | undefined>;
  cleared: string[];
  deleted: string[];
  jobsDeleted: string[];
}

function harness(w: Partial<World> = {}): { ctl: PolicyController; w: World } {
  const world: World = { jobs: [], points: [], vault: readyVault, created: [], events: [], status: undefined, pointStatus: new Map(), cleared: [], deleted: [], jobsDeleted: [], ...w };
  const cache: PolicyCache = { vault: () => world.vault, vms: () => vms, jobs: () => world.jobs, points: () => world.points };
  const status: StatusApi<BackupPolicyStatus> = {
    read: async () => ({ resourceVersion: '1', generation: 2, status: world.status }),
    patchStatus: async (_r, _rv, p) => void (world.status = JSON.parse(JSON.stringify({ ...world.status, ...(p as { status: BackupPolicyStatus }).status }, (_k, v) => (v === null ? undefined : v)))),
  };
  const points: StatusApi<RecoveryPointStatus> = {
    read: async (ref) => ({ resourceVersion: '1', generation: 1, status: world.points.find((p) => p.metadata.name === ref.name)?.status }),
    patchStatus: async (ref, _rv, p) => void world.pointStatus.set(ref.name, (p as { status: RecoveryPointStatus }).status),
  };
  const ctl = new PolicyController({
    cache, status, retention: { points, deletePoint: async (p) => void world.deleted.push(p.metadata.name!) },
    api: {
      createJob: async (j) => {
        if (world.jobs.some((x) => x.metadata.name === j.metadata.name)) throw Object.assign(new Error('exists'), { code: 409 });
        world.created.push(`${j.metadata.name} ${j.spec.vmName} ${j.metadata.labels?.['tresor.io/policy']} ${j.metadata.annotations?.['tresor.io/scheduled-time'] ?? '-'} owners=${j.metadata.ownerReferences?.length ?? 0}`);
        world.jobs.push(j);
      },
      readJob: async (_ns, name) => world.jobs.find((j) => j.metadata.name === name),
      clearRunNow: async (_ns, name, value) => void world.cleared.push(`${name}=${value}`),
      deleteJob: async (j) => {
        world.jobsDeleted.push(j.metadata.name!);
        world.jobs = world.jobs.filter((x) => x.metadata.uid !== j.metadata.uid);
      },
    },
    events: { normal: async (_o, r, m) => void world.events.push(`Normal ${r} ${m}`), warning: async (_o, r, m) => void world.events.push(`Warning ${r} ${m}`) },
    now: () => NOW,
  });
  return { ctl, w: world };
}
const ctx = { key: 'prod/nightly', signal: new AbortController().signal, retries: 0 };

test('a due slot creates one labelled job per selected VM, without owner, and writes status', async () => {
  const { ctl, w } = harness();
  const out = await ctl.reconcile(policy(), ctx);
  assert.equal(w.created.sort(), [
    'nightly-db-202611270200 db nightly 2026-11-27T02:00:00Z owners=0',
    'nightly-web-202611270200 web nightly 2026-11-27T02:00:00Z owners=0',
  ]);
  assert.is(w.events.filter((e) => e.startsWith('Normal BackupScheduled')).length, 2);
  assert.equal([w.status?.protectedVMs, w.status?.lastScheduleTime, w.status?.nextScheduleTime], [2, '2026-11-27T02:00:00Z', '2026-11-28T02:00:00Z']);
  const c = w.status?.conditions?.[0];
  assert.equal([c?.type, c?.status, c?.reason, c?.observedGeneration], ['Ready', 'True', 'Active', 2]);
  assert.is(out.kind, 'requeue');
});

test('a second pass before the cache shows the new status adopts the jobs: no duplicates, no skip events', async () => {
  const { ctl, w } = harness();
  await ctl.reconcile(policy(), ctx);
  w.events.length = 0;
  await ctl.reconcile(policy(), ctx);
  assert.is(w.created.length, 2);
  assert.equal(w.events, []);
});

test('a VM whose previous job still runs is skipped with an Event; a foreign same-named job is a NameConflict', async () => {
  const running = { metadata: { name: 'manual-web', labels: {} }, spec: { vmName: 'web', policyRef: { name: 'nightly' } }, status: { phase: 'Running' } } as unknown as VirtualMachineBackupObject;
  const foreign = { metadata: { name: 'nightly-db-202611270200', labels: {} }, spec: { vmName: 'db' } } as unknown as VirtualMachineBackupObject;
  const { ctl, w } = harness({ jobs: [running, foreign] });
  await ctl.reconcile(policy(), ctx);
  assert.equal(w.created, []);
  assert.ok(w.events.some((e) => e.startsWith('Normal SlotSkipped') && e.includes('VM web') && e.includes('manual-web')), w.events.join('\n'));
  assert.ok(w.events.some((e) => e.startsWith('Warning NameConflict') && e.includes('nightly-db-202611270200')), w.events.join('\n'));
});

test('a missing vault or suspend creates nothing; the reason is on Ready and nextScheduleTime is cleared', async () => {
  const missing = harness({ vault: undefined });
  await missing.ctl.reconcile(policy(), ctx);
  assert.equal(missing.w.created, []);
  assert.equal([missing.w.status?.conditions?.[0]?.status, missing.w.status?.conditions?.[0]?.reason], ['False', 'VaultNotFound']);
  const suspended = harness({ status: { nextScheduleTime: '2026-11-27T02:00:00Z', lastScheduleTime: '2026-11-26T02:00:00Z' } });
  await suspended.ctl.reconcile(policy({ suspend: true }), ctx);
  assert.equal(suspended.w.created, []);
  assert.equal([suspended.w.status?.conditions?.[0]?.reason, suspended.w.status?.nextScheduleTime, suspended.w.status?.lastScheduleTime], ['Suspended', undefined, '2026-11-26T02:00:00Z']);
});

test('a vault that is not Ready blocks scheduling, and the policy says why the vault is not Ready', async () => {
  const broken = { metadata: { name: 'vault' }, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'WrongKey', message: 'restore the original key', lastTransitionTime: '' }] } } as unknown as BackupVaultObject;
  const { ctl, w } = harness({ vault: broken });
  await ctl.reconcile(policy(), ctx);
  assert.equal(w.created, []);
  const c = w.status?.conditions?.[0];
  assert.equal([c?.status, c?.reason], ['False', 'VaultNotReady']);
  assert.match(c?.message ?? '', /WrongKey: restore the original key/);
});

test('run-now creates one job per protected VM named after the request, then clears the annotation', async () => {
  const { ctl, w } = harness();
  await ctl.reconcile({ ...policy({ schedule: '0 5 1 1 *' }), status: { lastScheduleTime: '2026-11-27T02:00:00Z' } } as BackupPolicyObject, ctx);
  assert.equal(w.created, []);
  const p = policy({ schedule: '0 5 1 1 *' }, { 'tresor.io/run-now': 'Ticket 42' });
  await ctl.reconcile({ ...p, status: { lastScheduleTime: '2026-11-27T02:00:00Z' } } as BackupPolicyObject, ctx);
  assert.equal(w.created.sort(), ['nightly-db-now-ticket-42 db nightly - owners=0', 'nightly-web-now-ticket-42 web nightly - owners=0']);
  assert.equal(w.cleared, ['nightly=Ticket 42']);
});

test('run-now waits for a busy VM: the others start, the annotation stays until the busy one got its job', async () => {
  const running = { metadata: { name: 'manual-web', labels: {} }, spec: { vmName: 'web', policyRef: { name: 'nightly' } }, status: { phase: 'Running' } } as unknown as VirtualMachineBackupObject;
  const { ctl, w } = harness({ jobs: [running] });
  const p = { ...policy({ schedule: '0 5 1 1 *' }, { 'tresor.io/run-now': 't1' }), status: { lastScheduleTime: '2026-11-27T02:00:00Z' } } as BackupPolicyObject;
  await ctl.reconcile(p, ctx);
  assert.equal(w.created, ['nightly-db-now-t1 db nightly - owners=0']);
  assert.equal(w.cleared, []);
  (running.status as { phase: string }).phase = 'Succeeded';
  await ctl.reconcile(p, ctx);
  assert.equal(w.created, ['nightly-db-now-t1 db nightly - owners=0', 'nightly-web-now-t1 web nightly - owners=0']);
  assert.equal(w.cleared, ['nightly=t1']);
});

test('retention marks points no rule keeps with expiryTime, never the newest, and unmarks points kept again', async () => {
  const points = [
    point('p1', '2026-11-24T02:00:00Z'), point('p2', '2026-11-25T02:00:00Z'),
    point('p3', '2026-11-26T02:00:00Z', '2026-11-26T03:00:00Z'), point('p4', '2026-11-27T02:00:00Z'),
  ];
  const { ctl, w } = harness({ points });
  await ctl.reconcile(policy(), ctx);
  assert.equal([...w.pointStatus.keys()].sort(), ['p1', 'p2', 'p3']);
  assert.is(w.pointStatus.get('p1')?.expiryTime, '2026-11-27T02:00:20Z');
  assert.is(w.pointStatus.get('p3')?.expiryTime, null as unknown as string, 'p3 is among the last 2 again: expiry removed');
  assert.is(w.events.filter((e) => e.includes('RecoveryPointExpired')).length, 2);
  const lone = harness({ points: [point('only', '2020-01-01T00:00:00Z')] });
  await lone.ctl.reconcile(policy({ retention: { daily: 1 } }), ctx);
  assert.equal([...lone.w.pointStatus.keys()], [], 'the newest point of a VM is never expired');
});

test('retention deletes the expired points of its own policy, never the newest of a VM, and nothing while suspended', async () => {
  const other = { ...point('theirs', '2026-11-20T02:00:00Z'), metadata: { name: 'theirs', namespace: 'prod', labels: { 'tresor.io/policy': 'weekly' } }, spec: { ...point('x', '2026-11-20T02:00:00Z').spec, policyName: 'weekly' } } as RecoveryPointObject;
  const points = [point('p1', '2026-11-24T02:00:00Z'), point('p2', '2026-11-25T02:00:00Z'), point('p3', '2026-11-26T02:00:00Z'), other];
  const { ctl, w } = harness({ points });
  await ctl.reconcile(policy({ retention: { keepLast: 1 } }), ctx);
  assert.equal(w.deleted.sort(), ['p1', 'p2']);
  assert.is(w.events.filter((e) => e.includes('RecoveryPointDeleted')).length, 2);
  const suspended = harness({ points });
  await suspended.ctl.reconcile(policy({ retention: { keepLast: 1 }, suspend: true }), ctx);
  assert.equal(suspended.w.deleted, []);
  const lone = harness({ points: [point('only', '2020-01-01T00:00:00Z')] });
  await lone.ctl.reconcile(policy({ retention: { daily: 1 } }), ctx);
  assert.equal(lone.w.deleted, [], 'the newest point of a VM is never deleted');
});

function finishedJob(vm: string, day: number, phase: 'Succeeded' | 'Failed', extra: { retainUntil?: string; label?: boolean } = {}): VirtualMachineBackupObject {
  const name = `nightly-${vm}-${day}`;
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup',
    metadata: { name, namespace: 'prod', uid: `uid-${name}`, ...(extra.label === false ? {} : { labels: { 'tresor.io/policy': 'nightly' } }) },
    spec: { vmName: vm, policyRef: { name: 'nightly' }, ...(extra.retainUntil ? { retainUntil: extra.retainUntil } : {}) },
    status: { phase, completionTime: `2026-11-${String(day).padStart(2, '0')}T02:00:00Z` },
  } as unknown as VirtualMachineBackupObject;
}

test('jobs of a slot are created at most CREATE_CONCURRENCY at a time, and one failure does not stop the others', async () => {
  let inFlight = 0;
  let peak = 0;
  const done: number[] = [];
  const items = Array.from({ length: 30 }, (_, i) => i);
  const err = await inParallel(items, CREATE_CONCURRENCY, async (i) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 1 + (i % 3)));
    inFlight--;
    if (i === 4) throw new Error('409 on 4');
    done.push(i);
  }).catch((e: unknown) => e as Error);
  assert.is(peak, CREATE_CONCURRENCY);
  assert.is(done.length, 29);
  assert.match(String(err), '409 on 4');
});

test('job history: per VM the newest 3 succeeded and 3 failed stay; older ones, and only the scheduler\'s, are deleted', async () => {
  const jobs = [
    ...[1, 2, 3, 4, 5, 6].map((d) => finishedJob('web', d, 'Succeeded')),
    ...[7, 8, 9, 10].map((d) => finishedJob('web', d, 'Failed')),
    ...[1, 2].map((d) => finishedJob('db', d, 'Succeeded')),
    finishedJob('db', 3, 'Succeeded', { label: false }), finishedJob('db', 4, 'Succeeded', { label: false }),
    finishedJob('web', 0, 'Succeeded', { retainUntil: '2027-01-01T00:00:00Z' }),
  ];
  const { ctl, w } = harness({ jobs });
  await ctl.reconcile(policy(), ctx);
  assert.equal(w.jobsDeleted, ['nightly-web-1', 'nightly-web-2', 'nightly-web-3', 'nightly-web-7'], 'oldest first; retainUntil ahead kept; a user\'s own jobs kept');
  w.jobsDeleted.length = 0;
  await ctl.reconcile(policy(), ctx);
  assert.equal(w.jobsDeleted, [], 'nothing more to trim');
});

test.run();
