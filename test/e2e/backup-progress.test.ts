// Live transfer progress end to end (ADR 0052): while bandwidth-limited transfer pods move 8 MiB of
// random data per disk, the job's status shows a disk part-way (0 < bytesDone < bytesTotal), never going
// backwards within an attempt, and 100% per disk and for the job at the end. The mover's Event on its pod
// is what a person sees in `kubectl describe pod`. Without the Events permission the transfer still
// succeeds: progress is best effort.
import { randomBytes } from 'node:crypto';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { VirtualMachineBackupObject } from '../../operator/src/api/types.ts';
import { loadConfig } from '../../operator/src/operator/config.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator/run.ts';
import { eventually } from '../harness.ts';
import {
  createJob, createVm, custom, type Ctx, diskFile, events, kc, operatorEnv, readJob, setupEnv, teardownEnv, TRESOR, waitRunning, writeAt,
} from './backup-env.ts';

const MiB = 1 << 20;
const run = { stop: new AbortController(), operator: undefined as RunningOperator | undefined };
const t = suite<Ctx>('transfer progress on the job status (node agent, apiserver, Postgres, S3)');

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('backup-progress'));
  run.operator = await startOperator(loadConfig(operatorEnv(ctx, `progress-${ctx.node}`)), run.stop.signal, kc);
  // 1 MB/s per disk: 8 MiB of random data keeps each transfer pod busy for about 8 s.
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'slow' },
    spec: { schedule: '0 3 * * *', vmSelector: { matchLabels: { app: 'none' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 3 }, suspend: true, transfer: { bandwidthLimit: '1M' } },
  } });
});

t.after(async (ctx) => {
  run.stop.abort();
  await run.operator?.exited.catch(() => undefined);
  await teardownEnv(ctx);
});

async function slowVm(ctx: Ctx, name: string): Promise<void> {
  await createVm(ctx, name, { disks: [{ name: 'a', mode: 'Block', size: 8 * MiB }, { name: 'b', mode: 'Block', size: 8 * MiB }] });
  await waitRunning(ctx, name);
  for (const d of ['a', 'b']) writeAt(await diskFile(ctx, `${name}-${d}`, 'Block'), 0, randomBytes(8 * MiB));
}

interface Sample {
  disk: string;
  attempts: number | undefined;
  bytesDone: number;
  bytesTotal: number;
  percent: number;
}

/** Reads the job until it ends, keeping every per-disk progress it showed on the way. */
async function watchJob(ctx: Ctx, name: string): Promise<{ end: VirtualMachineBackupObject; samples: Sample[] }> {
  const samples: Sample[] = [];
  const end = await eventually(`backup ${name} to finish`, async () => {
    const j = await readJob(ctx, name);
    for (const d of j.status?.disks ?? []) {
      if (d.progress) samples.push({ disk: d.name, attempts: d.attempts, ...d.progress });
    }
    return j.status?.phase === 'Succeeded' || j.status?.phase === 'Failed' ? j : undefined;
  }, 240_000);
  return { end, samples };
}

function assertNeverBackwards(samples: Sample[]): void {
  const last = new Map<string, Sample>();
  for (const s of samples) {
    const prev = last.get(s.disk);
    if (prev && prev.attempts === s.attempts) assert.ok(s.bytesDone >= prev.bytesDone, `disk ${s.disk} went back from ${prev.bytesDone} to ${s.bytesDone}`);
    last.set(s.disk, s);
  }
}

function assertComplete(j: VirtualMachineBackupObject): void {
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  for (const d of j.status?.disks ?? []) {
    assert.equal(d.progress, { bytesDone: 8 * MiB, bytesTotal: 8 * MiB, percent: 100 }, `disk ${d.name}`);
  }
  assert.equal(j.status?.progress, { bytesDone: 16 * MiB, bytesTotal: 16 * MiB, percent: 100 });
}

t('during a slowed transfer the job shows a disk part-way, never backwards, and 100% at the end', async (ctx) => {
  await slowVm(ctx, 'slow');
  await createJob(ctx, 'slow-1', { vmName: 'slow', policyRef: { name: 'slow' } });
  const { end, samples } = await watchJob(ctx, 'slow-1');
  assertComplete(end);
  const partway = samples.filter((s) => s.bytesDone > 0 && s.bytesDone < s.bytesTotal);
  assert.ok(partway.length > 0, `no sample between 0 and the total: ${JSON.stringify(samples.slice(-6))}`);
  assert.ok(partway.every((s) => s.percent < 100 && s.attempts === 1), JSON.stringify(partway));
  assertNeverBackwards(samples);
});

t('the transfer pod\'s own Event says how far it got (what kubectl describe pod shows)', async (ctx) => {
  const ev = await eventually('the progress Event of slow-1-a-xfer-0', async () => {
    const list = await events(ctx, 'slow-1-a-xfer-0');
    return list.find((e) => e.reason === 'TransferProgress');
  }, 30_000);
  assert.is(ev.involvedObject.kind, 'Pod');
  assert.match(ev.message ?? '', /^read [0-9.]+ MiB of 8\.0 MiB \(\d+%\)$/);
  assert.ok((ev.count ?? 0) >= 2, `updated in place, count ${ev.count}`);
});

t('without permission to write Events the transfer still succeeds and ends at 100%', async (ctx) => {
  await kc.makeApiClient(RbacAuthorizationV1Api).deleteNamespacedRoleBinding({ namespace: ctx.ns, name: 'tresor-transfer' });
  await slowVm(ctx, 'denied');
  await createJob(ctx, 'denied-1', { vmName: 'denied', policyRef: { name: 'slow' } });
  const { end, samples } = await watchJob(ctx, 'denied-1');
  assertComplete(end);
  assert.not.ok(samples.some((s) => s.bytesDone > 0 && s.bytesDone < s.bytesTotal), 'no live progress without the permission');
});

t.run();
