// The backup metrics as Prometheus would scrape them: a real prom-client registry's text output, from
// fixture jobs and recovery points, including what survives a "restart" (a fresh registry over the same
// objects) and what does not (the transition counters).
import { Registry } from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecoveryPointObject, VirtualMachineBackupObject } from '../api/types.ts';
import { BACKUP_METRIC as M, createBackupMetrics } from './backup-metrics.ts';

const T0 = Date.parse('2026-11-20T02:00:00Z') / 1000;
const iso = (s: number): string => new Date(s * 1000).toISOString();

interface JobOpts { ns?: string; vm: string; policy?: string; phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed'; start?: number; end?: number; reason?: string; uploaded?: number[] }

function job(name: string, o: JobOpts): VirtualMachineBackupObject {
  const status: Record<string, unknown> = {};
  if (o.phase) status.phase = o.phase;
  if (o.start !== undefined) status.startTime = iso(o.start);
  if (o.end !== undefined) status.completionTime = iso(o.end);
  if (o.phase === 'Failed') status.conditions = [{ type: 'Succeeded', status: 'False', reason: o.reason ?? 'TransferFailed', message: 'm', lastTransitionTime: iso(o.end ?? T0) }];
  if (o.uploaded) status.disks = o.uploaded.map((b, i) => ({ name: `d${i}`, requestedType: 'Incremental', bytesUploaded: b }));
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup',
    metadata: { name, namespace: o.ns ?? 'prod', creationTimestamp: iso(o.start ?? T0) as unknown as Date },
    spec: { vmName: o.vm, ...(o.policy === undefined ? { vaultRef: { name: 'v' } } : { policyRef: { name: o.policy } }) },
    ...(o.phase ? { status } : {}),
  } as VirtualMachineBackupObject;
}

function point(name: string, vm: string, [captured, stored]: [number, number], policy = 'nightly'): RecoveryPointObject {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint',
    metadata: { name, namespace: 'prod', creationTimestamp: iso(captured + 60) as unknown as Date },
    spec: {
      vmName: vm, capturedAt: iso(captured), consistency: 'CrashConsistent', backupType: 'Full', sizeBytes: 100,
      vaultRef: { name: 'v' }, sourceBackup: name, policyName: policy,
      disks: [{ name: 'd0', vaultDiskId: 'x', manifestId: 'm', type: 'Full', sizeBytes: 100, storedBytes: stored }],
    },
  } as RecoveryPointObject;
}

async function scrape(jobs: VirtualMachineBackupObject[], points: RecoveryPointObject[], feed?: (m: ReturnType<typeof createBackupMetrics>) => void): Promise<string> {
  const registry = new Registry();
  const m = createBackupMetrics({ registry, backups: () => jobs, recoveryPoints: () => points, startedSeconds: T0 });
  feed?.(m);
  return registry.metrics();
}

const line = (text: string, name: string, labels: string): number | undefined => {
  const l = text.split('\n').find((x) => x.startsWith(`${name}{${labels}} `));
  return l === undefined ? undefined : Number(l.slice(l.lastIndexOf(' ') + 1));
};

test('a VM whose newest job failed: last_job_failed=1 with the reason, last success still the older job', async () => {
  const jobs = [
    job('a1', { vm: 'db', policy: 'nightly', phase: 'Succeeded', start: T0, end: T0 + 100, uploaded: [10, 20] }),
    job('a2', { vm: 'db', policy: 'nightly', phase: 'Failed', start: T0 + 86_400, end: T0 + 86_500, reason: 'ConsistencyNotMet' }),
    job('b1', { vm: 'web', policy: 'nightly', phase: 'Succeeded', start: T0, end: T0 + 50 }),
    job('b2', { vm: 'web', policy: 'nightly', phase: 'Running', start: T0 + 90_000 }),
  ];
  const out = await scrape(jobs, []);
  const db = 'namespace="prod",vm="db",policy="nightly"';
  assert.is(line(out, M.lastJobFailed, `${db},reason="ConsistencyNotMet"`), 1);
  assert.is(line(out, M.lastSuccessTimestampSeconds, db), T0 + 100);
  assert.is(line(out, M.lastUploadedBytes, db), 30);
  assert.is(line(out, M.lastDurationSeconds, db), 100);
  assert.is(line(out, M.protectedSinceTimestampSeconds, db), T0);
  // web: the running job does not hide the earlier success.
  assert.is(line(out, M.lastJobFailed, 'namespace="prod",vm="web",policy="nightly",reason=""'), 0);
  assert.is(line(out, M.jobs, 'namespace="prod",phase="Failed"'), 1);
  assert.is(line(out, M.jobs, 'namespace="prod",phase="Running"'), 1);
  assert.is(line(out, M.jobs, 'namespace="prod",phase="Succeeded"'), 2);
  assert.is(line(out, M.jobs, 'namespace="prod",phase="Pending"'), 0);
  assert.match(out, `# TYPE ${M.lastSuccessTimestampSeconds} gauge`);
});

test('a success after a failure clears last_job_failed; the old reason series is gone', async () => {
  const jobs = [
    job('a1', { vm: 'db', policy: 'nightly', phase: 'Failed', start: T0, end: T0 + 10, reason: 'TransferFailed' }),
    job('a2', { vm: 'db', policy: 'nightly', phase: 'Succeeded', start: T0 + 20, end: T0 + 30 }),
  ];
  const out = await scrape(jobs, []);
  assert.is(line(out, M.lastJobFailed, 'namespace="prod",vm="db",policy="nightly",reason=""'), 0);
  assert.not.match(out, 'reason="TransferFailed"');
});

test('a VM that never succeeded has protected_since but no last_success (the missing-backup alert falls back to it)', async () => {
  const out = await scrape([job('x', { vm: 'new', policy: 'p', phase: 'Failed', start: T0, end: T0 + 5 })], []);
  assert.is(line(out, M.protectedSinceTimestampSeconds, 'namespace="prod",vm="new",policy="p"'), T0);
  assert.is(line(out, M.lastSuccessTimestampSeconds, 'namespace="prod",vm="new",policy="p"'), undefined);
});

test('recovery points keep last_success after the jobs are deleted; counts, newest capture and stored bytes per VM', async () => {
  const points = [point('p1', 'db', [T0, 1000]), point('p2', 'db', [T0 + 86_400, 200]), point('p3', 'web', [T0, 5])];
  const out = await scrape([], points);
  assert.is(line(out, M.lastSuccessTimestampSeconds, 'namespace="prod",vm="db",policy="nightly"'), T0 + 86_400 + 60);
  assert.is(line(out, M.recoveryPoints, 'namespace="prod",vm="db"'), 2);
  assert.is(line(out, M.recoveryPoints, 'namespace="prod",vm="web"'), 1);
  assert.is(line(out, M.recoveryPointLatestTimestampSeconds, 'namespace="prod",vm="db"'), T0 + 86_400);
  assert.is(line(out, M.recoveryPointStoredBytes, 'namespace="prod",vm="db"'), 1200);
  // No job: no protected_since, no last_job_failed.
  assert.not.match(out, `${M.lastJobFailed}{`);
});

test('scrape-time gauges follow the cache: a deleted VM disappears, a restart (new registry) shows the same values', async () => {
  const jobs = [job('a', { vm: 'db', policy: 'p', phase: 'Failed', start: T0, end: T0 + 1 })];
  const registry = new Registry();
  createBackupMetrics({ registry, backups: () => jobs, recoveryPoints: () => [], startedSeconds: T0 + 10 });
  const before = await registry.metrics();
  const restarted = await scrape(jobs, []);
  const gaugeLines = (t: string): string[] => t.split('\n').filter((l) => l.startsWith('tresor_') && !l.includes('_total') && !l.includes('duration_seconds_'));
  assert.equal(gaugeLines(restarted), gaugeLines(before));
  jobs.length = 0;
  const after = await registry.metrics();
  assert.not.match(after, 'vm="db"');
});

test('counters count each observed transition once, and a failure seen at start-up only if it happened after start', async () => {
  const running = job('j', { vm: 'db', policy: 'p', phase: 'Running', start: T0 + 1 });
  const failed = job('j', { vm: 'db', policy: 'p', phase: 'Failed', start: T0 + 1, end: T0 + 61, reason: 'SnapshotFailed' });
  const old = job('o', { vm: 'db', policy: 'p', phase: 'Failed', start: T0 - 100, end: T0 - 50, reason: 'Old' });
  const recent = job('r', { vm: 'web', policy: 'p', phase: 'Succeeded', start: T0 + 5, end: T0 + 15, uploaded: [7] });
  const out = await scrape([], [], (m) => {
    m.observe(running);
    m.observe(failed, running);
    m.observe(failed, failed); // a resync: no transition
    m.observe(old); // failed before this process started: an earlier process counted it
    m.observe(recent); // succeeded while no process was watching (start-up list after a restart)
  });
  assert.is(line(out, M.jobFailuresTotal, 'namespace="prod",vm="db",policy="p",reason="SnapshotFailed"'), 1);
  assert.not.match(out, 'reason="Old"');
  assert.is(line(out, M.jobSuccessesTotal, 'namespace="prod",vm="web",policy="p"'), 1);
  assert.is(line(out, M.uploadedBytesTotal, 'namespace="prod",vm="web",policy="p"'), 7);
  assert.is(line(out, `${M.jobDurationSeconds}_count`, 'namespace="prod",result="Failed"'), 1);
  assert.is(line(out, `${M.jobDurationSeconds}_sum`, 'namespace="prod",result="Failed"'), 60);
  assert.is(line(out, `${M.jobDurationSeconds}_bucket`, 'le="60",namespace="prod",result="Failed"'), 1);
});

test('an on-demand job (no policy) is reported with an empty policy label', async () => {
  const out = await scrape([job('d', { vm: 'db', phase: 'Succeeded', start: T0, end: T0 + 3 })], []);
  assert.is(line(out, M.lastSuccessTimestampSeconds, 'namespace="prod",vm="db",policy=""'), T0 + 3);
});

test.run();
