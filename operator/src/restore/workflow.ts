// A restore as a durable DBOS workflow (workflow ID = the restore's UID): plan, restore every disk into
// its new PVC (one child workflow per disk, on the same cluster-wide queue as backup transfers), then
// create the new VM and hand the PVCs over to it — or, in place, stop the VM first and swap its volumes
// onto the new PVCs at the end (the old PVCs are kept) — and clean up. Each step calls an idempotent RestoreCluster method, so a
// crash at any line re-runs at most the step in flight, and that step adopts what it had created.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { Reasons } from '../api/constants.ts';
import { QUEUES } from '../backup/workflow.ts';
import type { DiskRestoreOutcome, RestoreCluster, RestoreDisk, RestorePlan, RestoreRef, RestoreStatusUpdate } from './ports.ts';
import * as S from './status.ts';

/** How many restore pods one disk gets before the restore fails (the first counts). */
export interface RestoreLimits {
  readonly restoreAttempts: number;
}

/** How a restore ended. */
export type RestoreResult = { readonly phase: 'Succeeded'; readonly vmName: string } | { readonly phase: 'Failed'; readonly reason: string; readonly message: string };

/** Starts restore workflows; obtained from registerRestoreWorkflows before DBOS.launch. */
export interface RestoreWorkflows {
  /** Starts (or, for a restore already started, attaches to) the workflow of one restore. */
  start(ref: RestoreRef): Promise<{ getResult(): Promise<RestoreResult> }>;
}

const nowIso = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/** Registers the restore and per-disk workflows with DBOS; call once, before DBOS.launch. */
export function registerRestoreWorkflows(cluster: RestoreCluster, limits: RestoreLimits): RestoreWorkflows {
  const step = <T>(name: string, fn: () => Promise<T>): Promise<T> => DBOS.runStep(fn, { name });
  const write = (ref: RestoreRef, name: string, u: RestoreStatusUpdate): Promise<void> => step(`status-${name}`, () => cluster.writeStatus(ref, u));
  const now = async (): Promise<string> => nowIso(await DBOS.now());

  const diskWorkflow = DBOS.registerWorkflow(
    async (ref: RestoreRef, plan: RestorePlan, disk: RestoreDisk): Promise<{ outcome: DiskRestoreOutcome; attempts: number }> => {
      let outcome: DiskRestoreOutcome = { ok: false, message: 'not attempted' };
      let attempt = 0;
      while (attempt < limits.restoreAttempts) {
        const n = attempt;
        outcome = await step(`restore-${disk.name}-${n}`, () => cluster.restoreDisk(ref, plan, disk, n));
        attempt++;
        if (outcome.ok) break;
      }
      await write(ref, `disk-${disk.name}`, S.diskDone(S.diskEnded(disk, outcome, attempt)));
      return { outcome, attempts: attempt };
    },
    { name: 'tresor.restore.disk' },
  );

  async function fail(ref: RestoreRef, reason: string, message: string, plan?: RestorePlan): Promise<RestoreResult> {
    await step('cleanup-after-failure', () => cluster.cleanup(ref, { keepTarget: false }));
    // In place, the VM still has its old disks: it runs again as it did before the restore stopped it.
    if (plan?.mode === 'InPlace') await step('resume-vm-after-failure', () => cluster.resumeVirtualMachine(ref, plan, 'asBefore'));
    await write(ref, 'failed', S.failed(reason, message, await now()));
    return { phase: 'Failed', reason, message };
  }

  /** Restores every disk (each in its child workflow); returns why some failed, or undefined. */
  async function restoreAll(ref: RestoreRef, plan: RestorePlan): Promise<string | undefined> {
    const handles = [];
    for (const disk of plan.disks) {
      // The transfers queue is partitioned by namespace (ADR 0093): every enqueue names its partition.
      handles.push(await DBOS.startWorkflow(diskWorkflow, { workflowID: `${ref.uid}-disk-${disk.name}`, queueName: QUEUES.transfers, enqueueOptions: { queuePartitionKey: ref.namespace } })(ref, plan, disk));
    }
    const results = [];
    for (const [i, h] of handles.entries()) results.push({ disk: plan.disks[i]!, ...(await h.getResult()) });
    const bad = results.filter((r) => !r.outcome.ok);
    if (bad.length === 0) return undefined;
    return `disk restore failed: ${bad.map((r) => `${r.disk.name}: ${r.outcome.ok ? '' : r.outcome.message} (after ${r.attempts} attempt(s))`).join('; ')}`;
  }

  async function newVm(ref: RestoreRef, plan: RestorePlan): Promise<RestoreResult> {
    const bad = await restoreAll(ref, plan);
    if (bad) return fail(ref, Reasons.RestoreFailed, bad);
    await write(ref, 'disks-restored', S.disksRestored(plan));
    const dropped = await step('create-vm', () => cluster.createVirtualMachine(ref, plan));
    await write(ref, 'vm-created', S.vmCreated(plan, dropped));
    // The PVCs change hands only once the VM holds them: until then, deleting the restore takes them along.
    await step('release-disks', () => cluster.releaseDisks(ref, plan));
    return finish(ref, plan);
  }

  async function inPlace(ref: RestoreRef, plan: RestorePlan): Promise<RestoreResult> {
    try {
      await step('stop-vm', () => cluster.stopVirtualMachine(ref, plan));
    } catch (err) {
      return fail(ref, Reasons.RestoreFailed, `stopping VirtualMachine ${plan.targetVMName}: ${err instanceof Error ? err.message : String(err)}`, plan);
    }
    const bad = await restoreAll(ref, plan);
    if (bad) return fail(ref, Reasons.RestoreFailed, bad, plan);
    await write(ref, 'disks-restored', S.disksRestored(plan));
    // Released before the swap: once the VM points at the new PVCs, deleting the restore must not take them.
    await step('release-disks', () => cluster.releaseDisks(ref, plan));
    await step('swap-volumes', () => cluster.swapVolumes(ref, plan));
    await write(ref, 'vm-swapped', S.vmSwapped(plan));
    if (plan.startVM) await step('start-vm', () => cluster.resumeVirtualMachine(ref, plan, 'start'));
    return finish(ref, plan);
  }

  async function finish(ref: RestoreRef, plan: RestorePlan): Promise<RestoreResult> {
    await step('cleanup', () => cluster.cleanup(ref, { keepTarget: true }));
    await write(ref, 'succeeded', S.succeeded(plan, await now()));
    return { phase: 'Succeeded', vmName: plan.targetVMName };
  }

  const restoreWorkflow = DBOS.registerWorkflow(
    async (ref: RestoreRef): Promise<RestoreResult> => {
      const planned = await step('plan', () => cluster.plan(ref));
      if (!planned.ok) return fail(ref, planned.reason, planned.message);
      await write(ref, 'started', S.started(planned.plan, await now()));
      return planned.plan.mode === 'InPlace' ? inPlace(ref, planned.plan) : newVm(ref, planned.plan);
    },
    { name: 'tresor.restore' },
  );

  return {
    async start(ref) {
      return DBOS.startWorkflow(restoreWorkflow, { workflowID: ref.uid })(ref);
    },
  };
}
