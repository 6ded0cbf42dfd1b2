// The backup job's orchestration on real DBOS and Postgres, against an in-memory BackupCluster (our own
// narrow port; the Kubernetes implementation is tested separately): the seed's steps in order, the
// consistency rules, bounded retries of a failing transfer, and the cluster-wide transfer limit.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { GuestObservation } from '../../operator/src/backup/consistency.ts';
import type { FreezeWindowResult } from '../../operator/src/backup/freeze-window.ts';
import type { BackupCluster, JobObservation, JobRef, JobStatusUpdate, TransferOutcome, VmDisk } from '../../operator/src/backup/ports.ts';
import { registerBackupWorkflows, type BackupWorkflows } from '../../operator/src/backup/workflow.ts';
import { testEnv, uniqueSuffix } from '../harness.ts';

const linuxWithAgent: GuestObservation = { running: true, agentConnected: true, os: 'linux', hooksConfigured: false };
const disk = (name: string): VmDisk => ({ name, pvcName: `${name}-pvc`, volumeMode: 'Block', sizeBytes: 1 << 20 });

interface JobScript {
  obs: JobObservation;
  freeze?: FreezeWindowResult['freeze'];
  /** Per disk: how many transfer attempts fail before one succeeds. */
  failFirst?: Record<string, number>;
}

/** Records every call; behaves per job as its script says. */
class FakeCluster implements BackupCluster {
  readonly scripts = new Map<string, JobScript>();
  readonly calls: string[] = [];
  readonly statuses = new Map<string, JobStatusUpdate[]>();
  running = 0;
  maxRunning = 0;
  /** Transfers running per namespace now, the most seen at once, and the order transfers started in. */
  readonly runningIn = new Map<string, number>();
  readonly maxRunningIn = new Map<string, number>();
  readonly started: string[] = [];

  private script(job: JobRef): JobScript {
    const s = this.scripts.get(job.uid);
    if (!s) throw new Error(`no script for ${job.uid}`);
    return s;
  }
  async observe(job: JobRef): Promise<JobObservation> {
    this.calls.push(`${job.name} observe`);
    return this.script(job).obs;
  }
  async runSnapshot(job: JobRef, plan: { freeze: boolean; disks: readonly VmDisk[] }): Promise<FreezeWindowResult> {
    this.calls.push(`${job.name} snapshot freeze=${plan.freeze}`);
    const freeze = plan.freeze ? (this.script(job).freeze ?? 'ok') : 'skipped';
    return { freeze, hooks: 'none', frozenMs: 5, snapshots: plan.disks.map((d) => ({ disk: d.name, snapshotName: `${job.name}-${d.name}` })) };
  }
  async runTransfer(job: JobRef, d: VmDisk, attempt: number): Promise<TransferOutcome> {
    this.calls.push(`${job.name} transfer ${d.name} #${attempt}`);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const inNs = (this.runningIn.get(job.namespace) ?? 0) + 1;
    this.runningIn.set(job.namespace, inNs);
    this.maxRunningIn.set(job.namespace, Math.max(this.maxRunningIn.get(job.namespace) ?? 0, inNs));
    this.started.push(job.namespace);
    await new Promise((r) => setTimeout(r, 300));
    this.running--;
    this.runningIn.set(job.namespace, (this.runningIn.get(job.namespace) ?? 1) - 1);
    if (attempt < (this.script(job).failFirst?.[d.name] ?? 0)) return { ok: false, message: `pod exited 1 (attempt ${attempt})` };
    return { ok: true, result: { type: 'Full', changeDetection: 'None', fallbackReason: 'NoParent', manifestId: `m-${d.name}`, bytesRead: d.sizeBytes, bytesUploaded: 1000 } };
  }
  async recordRecoveryPoint(job: JobRef): Promise<string> {
    this.calls.push(`${job.name} recovery-point`);
    return job.name;
  }
  async forgetPublished(job: JobRef, p: { disks: ReadonlyArray<{ disk: VmDisk; manifestId: string }> }): Promise<string[]> {
    this.calls.push(`${job.name} forget ${p.disks.map((d) => d.manifestId).join(',')}`);
    return p.disks.map((d) => `${d.manifestId}: forgotten`);
  }
  async cleanup(job: JobRef, opts: { keepSnapshots: boolean }): Promise<void> {
    this.calls.push(`${job.name} cleanup keep=${opts.keepSnapshots}`);
  }
  async writeStatus(job: JobRef, update: JobStatusUpdate): Promise<void> {
    this.statuses.set(job.uid, [...(this.statuses.get(job.uid) ?? []), update]);
  }
  /** The last status each condition type was given for a job, in order of first appearance. */
  conditions(job: JobRef): Record<string, string> {
    const out: Record<string, string> = {};
    for (const u of this.statuses.get(job.uid) ?? []) for (const c of u.conditions) out[c.type] = `${c.status}/${c.reason}`;
    return out;
  }
}

const cluster = new FakeCluster();
let workflows: BackupWorkflows;
const run = `${uniqueSuffix()}`;

function job(name: string, script: Omit<Partial<JobScript>, 'obs'> & { obs?: Partial<JobObservation> }, namespace = 'ns'): JobRef {
  const ref = { namespace, name, uid: `${name}-${run}` };
  const obs: JobObservation = {
    vmName: 'web', guest: linuxWithAgent, disks: [disk('root'), disk('data')], required: 'CrashConsistent',
    forceFull: false, freezeTimeoutMs: 10_000, maxParallelDisks: 4, maxTransferRetries: 2, keepSnapshots: false, vaultName: 'vault', ...script.obs,
  };
  cluster.scripts.set(ref.uid, { ...script, obs });
  return ref;
}

const t = suite('backup job workflow (DBOS on Postgres)');

t.before(async () => {
  const url = new URL(testEnv().pgUrl);
  url.pathname = `/tresor_wf_${run}`;
  workflows = registerBackupWorkflows(cluster, { maxConcurrentFreezes: 4, maxConcurrentTransfers: 4, transferAttempts: 3 });
  DBOS.setConfig({ name: 'tresor-workflow-test', systemDatabaseUrl: url.toString(), logLevel: 'warn' });
  await DBOS.launch();
  await workflows.registerQueues();
});

t.after(async () => {
  await DBOS.shutdown();
});

t('a running Linux VM without hooks: snapshot, both disks, recovery point, cleanup, Succeeded', async () => {
  const ref = job('happy', {});
  const result = await (await workflows.start(ref)).getResult();
  assert.equal(result, { phase: 'Succeeded', recoveryPoint: 'happy' });
  const mine = cluster.calls.filter((c) => c.startsWith('happy '));
  assert.equal(mine.slice(0, 2), ['happy observe', 'happy snapshot freeze=true']);
  assert.equal(mine.slice(-2), ['happy recovery-point', 'happy cleanup keep=false']);
  assert.equal(cluster.conditions(ref), {
    SnapshotTaken: 'True/NoApplicationHooks',
    Succeeded: 'True/Completed',
    DataTransferred: 'True/Completed',
    SnapshotDeleted: 'True/Completed',
  });
  const consistency = cluster.statuses.get(ref.uid)!.map((u) => u.fields.consistency).find(Boolean) as { level: string };
  assert.is(consistency.level, 'FileSystemConsistent');
});

t('starting the same job twice runs it once (workflow ID = job UID)', async () => {
  const ref = job('twice', {});
  const [a, b] = await Promise.all([workflows.start(ref), workflows.start(ref)]);
  await Promise.all([a.getResult(), b.getResult()]);
  assert.is(cluster.calls.filter((c) => c === 'twice observe').length, 1);
  assert.is(cluster.calls.filter((c) => c === 'twice recovery-point').length, 1);
});

t('a policy demanding ApplicationConsistent fails before any freeze when the agent is missing', async () => {
  const ref = job('noagent', { obs: { guest: { ...linuxWithAgent, agentConnected: false }, required: 'ApplicationConsistent' } });
  const result = await (await workflows.start(ref)).getResult();
  assert.is(result.phase, 'Failed');
  assert.is((result as { reason: string }).reason, 'ConsistencyNotMet');
  assert.not.ok(cluster.calls.some((c) => c.startsWith('noagent snapshot')), 'no snapshot must be taken');
  assert.match(cluster.conditions(ref).Succeeded ?? '', /^False\/ConsistencyNotMet$/);
});

t('a failed freeze falls back to crash-consistent and is recorded; a policy that accepts it succeeds', async () => {
  const ref = job('freezefail', { freeze: 'failed' });
  const result = await (await workflows.start(ref)).getResult();
  assert.is(result.phase, 'Succeeded');
  assert.is(cluster.conditions(ref).SnapshotTaken, 'True/FreezeFailed');
});

t('a failed freeze under a FileSystemConsistent policy fails the job and cleans up the snapshots', async () => {
  const ref = job('freezestrict', { freeze: 'failed', obs: { required: 'FileSystemConsistent' } });
  const result = await (await workflows.start(ref)).getResult();
  assert.is((result as { reason: string }).reason, 'ConsistencyNotMet');
  assert.ok(cluster.calls.includes('freezestrict cleanup keep=false'));
});

t('a transfer that fails twice is retried with new pods and the job succeeds, attempts recorded', async () => {
  const ref = job('retry', { failFirst: { data: 2 } });
  const result = await (await workflows.start(ref)).getResult();
  assert.is(result.phase, 'Succeeded');
  assert.equal(cluster.calls.filter((c) => c.startsWith('retry transfer data')), ['retry transfer data #0', 'retry transfer data #1', 'retry transfer data #2']);
  const last = cluster.statuses.get(ref.uid)!.map((u) => u.fields.disks).filter(Boolean).at(-1) as Array<{ name: string; attempts: number }>;
  assert.is(last.find((d) => d.name === 'data')?.attempts, 3);
});

t('a transfer that keeps failing stops after the attempt limit: Failed with TransferFailed, cleaned up', async () => {
  const ref = job('broken', { failFirst: { root: 99 } });
  const result = await (await workflows.start(ref)).getResult();
  assert.is((result as { reason: string }).reason, 'TransferFailed');
  assert.match((result as { message: string }).message, /root: pod exited 1 \(attempt 2\) \(after 3 attempt\(s\)\)/);
  assert.is(cluster.calls.filter((c) => c.startsWith('broken transfer root')).length, 3);
  assert.ok(cluster.calls.includes('broken cleanup keep=false'));
  assert.not.ok(cluster.calls.includes('broken recovery-point'));
  // The disk that did publish leaves no orphan manifest: the job forgets it before failing.
  assert.ok(cluster.calls.includes('broken forget m-data'), cluster.calls.filter((c) => c.startsWith('broken')).join(' | '));
  assert.match((result as { message: string }).message, /m-data: forgotten/);
});

t('the policy\'s transfer.maxRetries applies: maxRetries 1 allows 2 pods per disk, so 2 failures fail the job', async () => {
  const ref = job('policy-retries', { failFirst: { data: 2 }, obs: { maxTransferRetries: 1 } });
  const result = await (await workflows.start(ref)).getResult();
  assert.is((result as { reason: string }).reason, 'TransferFailed', JSON.stringify(result));
  assert.equal(cluster.calls.filter((c) => c.startsWith('policy-retries transfer data')), ['policy-retries transfer data #0', 'policy-retries transfer data #1']);
  assert.match((result as { message: string }).message, /data: .*\(after 2 attempt\(s\)\)/);
});

t('maxRetries 0 means one pod per disk; one failure with maxRetries 1 is retried and succeeds', async () => {
  const none = job('no-retries', { failFirst: { root: 1 }, obs: { maxTransferRetries: 0 } });
  assert.is((await (await workflows.start(none)).getResult()).phase, 'Failed');
  assert.equal(cluster.calls.filter((c) => c.startsWith('no-retries transfer root')), ['no-retries transfer root #0']);
  const once = job('one-retry', { failFirst: { root: 1 }, obs: { maxTransferRetries: 1 } });
  assert.is((await (await workflows.start(once)).getResult()).phase, 'Succeeded');
  assert.equal(cluster.calls.filter((c) => c.startsWith('one-retry transfer root')), ['one-retry transfer root #0', 'one-retry transfer root #1']);
});

t('the global limit (3 attempts) caps a policy asking for more retries', async () => {
  const ref = job('capped', { failFirst: { root: 99 }, obs: { maxTransferRetries: 10 } });
  assert.is((await (await workflows.start(ref)).getResult()).phase, 'Failed');
  assert.is(cluster.calls.filter((c) => c.startsWith('capped transfer root')).length, 3);
});

t('disks transfer in parallel: the cluster-wide limit (4) holds across namespaces, a namespace\'s share (2) within one', async () => {
  cluster.maxRunning = 0;
  cluster.maxRunningIn.clear();
  const six = { obs: { disks: [disk('d1'), disk('d2'), disk('d3'), disk('d4'), disk('d5'), disk('d6')] } };
  const a = job('para-a', six, 'team-a');
  const b = job('para-b', six, 'team-b');
  const results = await Promise.all([(await workflows.start(a)).getResult(), (await workflows.start(b)).getResult()]);
  assert.equal(results.map((r) => r.phase), ['Succeeded', 'Succeeded']);
  assert.is(cluster.maxRunning, 4, `at most and at least 4 transfers at once, saw ${cluster.maxRunning}`);
  assert.equal([cluster.maxRunningIn.get('team-a'), cluster.maxRunningIn.get('team-b')], [2, 2], 'each namespace at most its share');
});

t('fairness: two namespaces each asking for 20 backups at once (cluster limit 4) both make progress', async () => {
  cluster.started.length = 0;
  const ids = Array.from({ length: 20 }, (_, i) => i);
  // team-a asks first and for as much as team-b: without a per-namespace share, a FIFO queue ran all of a's first.
  const refs = [...ids.map((i) => job(`fair-a-${i}`, { obs: { disks: [disk('d')] } }, 'fair-a')), ...ids.map((i) => job(`fair-b-${i}`, { obs: { disks: [disk('d')] } }, 'fair-b'))];
  const handles = [];
  for (const r of refs) handles.push(await workflows.start(r));
  const results = await Promise.all(handles.map((h) => h.getResult()));
  assert.ok(results.every((r) => r.phase === 'Succeeded'));
  const first = cluster.started.slice(0, 10);
  const b = first.filter((n) => n === 'fair-b').length;
  console.log(`  first 10 transfer starts: ${first.map((n) => n.slice(-1)).join(' ')}; the last of fair-b started at #${cluster.started.lastIndexOf('fair-b') + 1} of 40`);
  assert.ok(b >= 3 && b <= 7, `both namespaces among the first 10 transfers: ${first.join(', ')}`);
  assert.ok(cluster.started.lastIndexOf('fair-a') >= 30 && cluster.started.lastIndexOf('fair-b') >= 30, 'neither finishes all its work while the other waits');
});

t.run();
