import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupPolicyObject, VirtualMachineBackupObject } from '../api/types.ts';
import { MAX_REQUEUE_MS, planPolicy, type PolicyObservation } from './policy-plan.ts';
import { matchesSelector } from './selector.ts';

const at = (s: string): number => Date.parse(s);

function policy(over: Partial<BackupPolicyObject['spec']> = {}, status: BackupPolicyObject['status'] = {}): BackupPolicyObject {
  return {
    apiVersion: 'tresor.io/v1alpha1',
    kind: 'BackupPolicy',
    metadata: { name: 'nightly', namespace: 'prod', creationTimestamp: new Date('2026-11-20T00:00:00Z') },
    spec: { schedule: '0 2 * * *', vmSelector: { matchLabels: { tier: 'prod' } }, vaultRef: { name: 'vault' }, retention: { daily: 7 }, ...over },
    status,
  } as BackupPolicyObject;
}

function job(name: string, vmName: string, phase?: string, completionTime?: string): VirtualMachineBackupObject {
  return { apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name }, spec: { vmName, policyRef: { name: 'nightly' } }, status: { phase, completionTime } } as VirtualMachineBackupObject;
}

const vms = [
  { name: 'web', labels: { tier: 'prod' } },
  { name: 'db', labels: { tier: 'prod' } },
  { name: 'dev', labels: { tier: 'dev' } },
  { name: 'scratch', labels: { tier: 'prod' }, annotations: { 'tresor.io/exclude': 'true' } },
];

function observe(over: Partial<PolicyObservation> = {}): PolicyObservation {
  return { policy: policy({}, { lastScheduleTime: '2026-11-26T02:00:00Z' }), vault: 'True', vms, jobs: [], nowMs: at('2026-11-27T02:00:20Z'), ...over };
}

test('selector: matchLabels and every expression operator', () => {
  const sel = { matchLabels: { a: '1' }, matchExpressions: [
    { key: 'b', operator: 'In' as const, values: ['x', 'y'] },
    { key: 'c', operator: 'NotIn' as const, values: ['z'] },
    { key: 'd', operator: 'Exists' as const },
    { key: 'e', operator: 'DoesNotExist' as const },
  ] };
  assert.ok(matchesSelector(sel, { a: '1', b: 'y', d: '' }));
  assert.not.ok(matchesSelector(sel, { a: '2', b: 'y', d: '' }), 'matchLabels');
  assert.not.ok(matchesSelector(sel, { a: '1', b: 'q', d: '' }), 'In');
  assert.not.ok(matchesSelector(sel, { a: '1', b: 'y', c: 'z', d: '' }), 'NotIn');
  assert.not.ok(matchesSelector(sel, { a: '1', b: 'y' }), 'Exists');
  assert.not.ok(matchesSelector(sel, { a: '1', b: 'y', d: '', e: '' }), 'DoesNotExist');
  assert.ok(matchesSelector({}, {}), 'empty selector matches everything');
});

test('a due slot creates one job per selected VM, deterministic names, excluded and unmatched VMs left out', () => {
  const plan = planPolicy(observe());
  assert.equal(plan.create, [
    { name: 'nightly-web-202611270200', vmName: 'web', slot: '2026-11-27T02:00:00Z' },
    { name: 'nightly-db-202611270200', vmName: 'db', slot: '2026-11-27T02:00:00Z' },
  ]);
  assert.is(plan.status.fields.protectedVMs, 2);
  assert.is(plan.status.fields.lastScheduleTime, '2026-11-27T02:00:00Z');
  assert.is(plan.status.fields.nextScheduleTime, '2026-11-28T02:00:00Z');
  assert.equal(plan.status.conditions[0]?.reason, 'Active');
});

test('the same pass repeated gives the same names (a crash between create and status write adopts, never duplicates)', () => {
  assert.equal(planPolicy(observe()).create, planPolicy(observe({ nowMs: at('2026-11-27T02:03:00Z') })).create);
});

test('a VM whose previous job still runs is skipped for this slot', () => {
  const plan = planPolicy(observe({ jobs: [job('nightly-web-202611260200', 'web', 'Running')] }));
  assert.equal(plan.create.map((c) => c.vmName), ['db']);
  assert.equal(plan.skippedBusy, ['web']);
  assert.equal(plan.status.fields.active, ['nightly-web-202611260200']);
});

test('after an outage only the latest slot runs, and only within the starting deadline', () => {
  const late = planPolicy(observe({ nowMs: at('2026-11-29T02:30:00Z') }));
  assert.equal(late.create.map((c) => c.slot), ['2026-11-29T02:00:00Z', '2026-11-29T02:00:00Z']);
  assert.is(late.missedSlots, 2);
  const tooLate = planPolicy(observe({ nowMs: at('2026-11-29T05:00:00Z') }));
  assert.equal(tooLate.create, []);
  assert.is(tooLate.missedSlots, 3);
  assert.is(tooLate.status.fields.lastScheduleTime, '2026-11-29T02:00:00Z', 'missed slots are marked handled');
});

test('nothing due: no jobs, requeue at the next slot (capped)', () => {
  const plan = planPolicy(observe({ policy: policy({}, { lastScheduleTime: '2026-11-27T02:00:00Z' }), nowMs: at('2026-11-27T03:00:00Z') }));
  assert.equal(plan.create, []);
  assert.is(plan.requeueAfterMs, MAX_REQUEUE_MS);
  const soon = planPolicy(observe({ policy: policy({}, { lastScheduleTime: '2026-11-27T02:00:00Z' }), nowMs: at('2026-11-28T01:59:00Z') }));
  assert.is(soon.requeueAfterMs, 60_000);
});

test('the time zone decides the slot: 02:00 Berlin is 01:00 UTC in winter', () => {
  const p = policy({ timeZone: 'Europe/Berlin' }, { lastScheduleTime: '2026-11-26T01:00:00Z' });
  const plan = planPolicy(observe({ policy: p, nowMs: at('2026-11-27T01:00:30Z') }));
  assert.equal(plan.create.map((c) => c.name), ['nightly-web-202611270100', 'nightly-db-202611270100']);
});

test('suspended, missing vault, vault not ready, bad cron: no jobs and a Ready condition that says why', () => {
  const cases: Array<[Partial<PolicyObservation>, string, string]> = [
    [{ policy: policy({ suspend: true }, { lastScheduleTime: '2026-11-26T02:00:00Z' }) }, 'True', 'Suspended'],
    [{ vault: 'Missing' }, 'False', 'VaultNotFound'],
    [{ vault: 'False' }, 'False', 'VaultNotReady'],
    [{ policy: policy({ schedule: '61 * * * *' }) }, 'False', 'InvalidSchedule'],
  ];
  for (const [over, status, reason] of cases) {
    const plan = planPolicy(observe(over));
    assert.equal(plan.create, [], reason);
    assert.equal([plan.status.conditions[0]?.status, plan.status.conditions[0]?.reason], [status, reason]);
  }
  const bad = planPolicy(observe({ policy: policy({ schedule: '61 * * * *' }) }));
  assert.match(bad.status.conditions[0]?.message ?? '', /^spec\.schedule: minute: 61 is outside 0-59/);
});

test('lastSuccessfulBackupTime is the newest completion of a succeeded job', () => {
  const plan = planPolicy(observe({ jobs: [
    job('a', 'web', 'Succeeded', '2026-11-25T02:10:00Z'),
    job('b', 'db', 'Succeeded', '2026-11-26T02:12:00Z'),
    job('c', 'db', 'Failed', '2026-11-26T03:00:00Z'),
  ] }));
  assert.is(plan.status.fields.lastSuccessfulBackupTime, '2026-11-26T02:12:00Z');
});

test.run();
