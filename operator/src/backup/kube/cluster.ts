// BackupCluster against the real Kubernetes API: every step creates (or adopts, after a crash) a child
// with a deterministic name, an owner reference to the job and Tresor's labels, waits for it, and turns
// what it reports into values for the workflow. Nothing here decides order or outcome; workflow.ts does.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions, type V1OwnerReference, type V1PersistentVolumeClaim, type V1Pod } from '@kubernetes/client-node';
import { API_VERSION, EventReasons, GROUP, Kinds, VERSION } from '../../api/constants.ts';
import type { BackupVaultObject, RecoveryPointObject } from '../../api/types.ts';
import type { ForgetReport } from '../../vault/forget.ts';
import { setConditions, type Condition } from '../../runtime/conditions.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import type { Logger } from '../../runtime/log.ts';
import { customObjectStatusApi, writeStatus } from '../../runtime/status.ts';
import type { FreezeWindowResult } from '../freeze-window.ts';
import { jobChildNames } from '../names.ts';
import type { BackupCluster, JobObservation, JobRef, JobStatusUpdate, RecoveryPointRecord, TransferOutcome, VmDisk } from '../ports.ts';
import { createOrAdopt, deleteIgnoringNotFound, NameConflictError, readOrUndefined, retrying, waitForPodEnd } from './client.ts';
import { jobObject, writeJobStatus } from './job-status.ts';
import { JobReader, jobSettings, observeJob } from './observe.ts';
import { isSameRecoveryPoint, recoveryPointObject, recoveryPointStatus } from './recovery-point.ts';
import { parseFreezeReport, parseTransferReport } from './results.ts';
import { jobSelector, snapshotPod, sourcePvc, transferPod, vaultDiskId, type PodSettings } from './specs.ts';
import { kubeProgressRelay } from './transfer-progress.ts';
import { SNAPSHOTS, type VolumeSnapshot } from './volume-snapshots.ts';
import { vaultAccess } from './vault-access.ts';

/** Options of KubeBackupCluster. */
export interface KubeBackupClusterOptions {
  readonly kubeConfig: KubeConfig;
  readonly pods: PodSettings;
  readonly events?: EventRecorder;
  /** How long the snapshot pod may take beyond the freeze timeout; default 10 min. */
  readonly snapshotTimeoutMs?: number;
  /** How long one transfer pod may run; default 6 h. */
  readonly transferTimeoutMs?: number;
  /** How long a pod may stay Pending (not scheduled, volume not ready) before its step fails; default 10 min. */
  readonly pendingTimeoutMs?: number;
  /** Least time between two progress writes of one disk onto the job's status; default 3 s. */
  readonly progressIntervalMs?: number;
  readonly log?: Logger;
  /** Forgets manifests in a vault (the operator's maintenance path); absent: orphans of failed jobs are only logged. */
  readonly forget?: (vault: BackupVaultObject, disks: ReadonlyArray<{ diskId: string; backupId: string }>) => Promise<ForgetReport[]>;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const msg = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The BackupCluster port implemented with client-node against a real apiserver. */
export class KubeBackupCluster implements BackupCluster {
  private readonly opts: KubeBackupClusterOptions;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly reader: JobReader;

  constructor(opts: KubeBackupClusterOptions) {
    this.opts = opts;
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.reader = new JobReader(opts.kubeConfig);
  }

  /** Reads the job, its VM, VMI, PVCs, policy and vault. */
  observe(job: JobRef): Promise<JobObservation> {
    return retrying(() => observeJob(this.opts.kubeConfig, this.reader, job));
  }

  /** Runs (or adopts) the snapshot pod and returns its report once it terminated. */
  runSnapshot(job: JobRef, plan: { freeze: boolean; runHooks: boolean; disks: readonly VmDisk[]; freezeTimeoutMs: number }): Promise<FreezeWindowResult> {
    return retrying(() => this.snapshot(job, plan));
  }

  private async snapshot(job: JobRef, plan: { freeze: boolean; runHooks: boolean; disks: readonly VmDisk[]; freezeTimeoutMs: number }): Promise<FreezeWindowResult> {
    const ctx = await this.reader.context(job);
    const body = snapshotPod({ job, vmName: ctx.job.spec.vmName, ...plan }, this.opts.pods);
    const name = body.metadata!.name!;
    await this.adopt(job, () => createOrAdopt<V1Pod>({
      kind: 'Pod', name, job,
      read: () => this.core.readNamespacedPod({ namespace: job.namespace, name }),
      create: () => this.core.createNamespacedPod({ namespace: job.namespace, body }),
    }));
    const end = await waitForPodEnd({
      read: () => readOrUndefined(() => this.core.readNamespacedPod({ namespace: job.namespace, name })),
      timeoutMs: plan.freezeTimeoutMs + (this.opts.snapshotTimeoutMs ?? 600_000),
      pendingTimeoutMs: this.opts.pendingTimeoutMs ?? 600_000,
      what: 'snapshot',
    });
    if (end.state === 'succeeded') return parseFreezeReport(end.message);
    if (end.state === 'failed') throw new Error(`snapshot pod ${name} failed (exit ${end.exitCode ?? '?'}): ${end.message.trim()}`);
    if (end.state === 'gone') throw new Error(`snapshot pod ${name} was deleted before it reported`);
    throw new Error(`snapshot pod ${name} did not finish in time${end.pending ? ` (still pending: ${end.pending})` : ''}`);
  }

  /** Runs (or adopts) one attempt of a disk's transfer pod and returns how it ended. */
  runTransfer(job: JobRef, disk: VmDisk, attempt: number): Promise<TransferOutcome> {
    return retrying(() => this.transfer(job, disk, attempt));
  }

  private async transfer(job: JobRef, disk: VmDisk, attempt: number): Promise<TransferOutcome> {
    const ctx = await this.reader.context(job);
    const vmName = ctx.job.spec.vmName;
    const vm = await this.reader.vm(job, vmName);
    const names = jobChildNames(job.name);
    const snapName = names.volumeSnapshot(disk.name);
    const snap = await readOrUndefined(() => this.custom.getNamespacedCustomObject({ ...SNAPSHOTS, namespace: job.namespace, name: snapName }) as Promise<VolumeSnapshot>);
    if (snap === undefined) return { ok: false, message: `VolumeSnapshot ${snapName} of disk ${disk.name} not found` };
    const src = await readOrUndefined(() => this.core.readNamespacedPersistentVolumeClaim({ namespace: job.namespace, name: disk.pvcName }));
    const pvcBody = sourcePvc({ job, vmName, disk, size: snap.status?.restoreSize ?? String(disk.sizeBytes), ...(src?.spec?.storageClassName ? { storageClassName: src.spec.storageClassName } : {}) });
    await this.adopt(job, () => createOrAdopt<V1PersistentVolumeClaim>({
      kind: 'PersistentVolumeClaim', name: names.sourcePvc(disk.name), job,
      read: () => this.core.readNamespacedPersistentVolumeClaim({ namespace: job.namespace, name: names.sourcePvc(disk.name) }),
      create: () => this.core.createNamespacedPersistentVolumeClaim({ namespace: job.namespace, body: pvcBody }),
    }));
    const settings = jobSettings(ctx);
    const body = transferPod({
      job, vmName, disk, attempt, diskId: vaultDiskId(job.namespace, vm.metadata?.uid ?? '', disk.name), forceFull: settings.forceFull,
      vault: vaultAccess(ctx.vault, this.opts.pods.filesystemVaults ?? []), ...(ctx.policy?.spec.transfer?.bandwidthLimit ? { bandwidthLimit: ctx.policy.spec.transfer.bandwidthLimit } : {}),
    }, this.opts.pods);
    const name = body.metadata!.name!;
    const { adopted } = await this.adopt(job, () => createOrAdopt<V1Pod>({
      kind: 'Pod', name, job,
      read: () => this.core.readNamespacedPod({ namespace: job.namespace, name }),
      create: () => this.core.createNamespacedPod({ namespace: job.namespace, body }),
    }));
    if (!adopted) await this.event(job, attempt > 0 ? EventReasons.TransferRetried : EventReasons.TransferStarted, `disk ${disk.name}: transfer pod ${name} (attempt ${attempt + 1})`);
    return this.transferEnd(job, { name, disk: disk.name, attempt }, settings.forceFull);
  }

  private async transferEnd(job: JobRef, pod: { name: string; disk: string; attempt: number }, forceFull: boolean): Promise<TransferOutcome> {
    const { name } = pod;
    const timeoutMs = this.opts.transferTimeoutMs ?? 6 * 3600_000;
    // While the pod runs, its progress goes onto the job's status; this is a report, not a checkpoint.
    const relay = kubeProgressRelay(this.opts.kubeConfig, {
      job, disk: pod.disk, attempt: pod.attempt, podName: name,
      ...(this.opts.progressIntervalMs !== undefined ? { intervalMs: this.opts.progressIntervalMs } : {}), ...(this.opts.log ? { log: this.opts.log } : {}),
    });
    const end = await waitForPodEnd({
      read: () => readOrUndefined(() => this.core.readNamespacedPod({ namespace: job.namespace, name })),
      timeoutMs, pendingTimeoutMs: this.opts.pendingTimeoutMs ?? 600_000, what: 'transfer',
      onRunning: () => relay.poll(),
    });
    if (end.state === 'succeeded') {
      // The mover's last sample (its close() sends it): the disk shows its end while other disks still run.
      await relay.flush();
      try {
        return { ok: true, result: parseTransferReport(end.message, forceFull) };
      } catch (err) {
        return { ok: false, message: msg(err) };
      }
    }
    if (end.state === 'failed') return { ok: false, message: `transfer pod ${name} failed (exit ${end.exitCode ?? '?'}): ${end.message.trim().slice(-1500)}` };
    if (end.state === 'gone') return { ok: false, message: `transfer pod ${name} was deleted before it finished` };
    // A pod that timed out or cannot start (its PVC never binds) is deleted: the next attempt gets a fresh one.
    await deleteIgnoringNotFound(() => this.core.deleteNamespacedPod({ namespace: job.namespace, name }));
    return { ok: false, message: end.pending ? `transfer pod ${name} could not start: ${end.pending}` : `transfer pod ${name} did not finish within ${Math.round(timeoutMs / 1000)} s` };
  }

  /** Creates (or adopts) the job's RecoveryPoint and marks it Available. */
  async forgetPublished(job: JobRef, published: { vaultName: string; vmName: string; disks: ReadonlyArray<{ disk: VmDisk; manifestId: string }> }): Promise<string[]> {
    if (published.disks.length === 0) return [];
    const ctx = await this.reader.context(job);
    const vm = await this.reader.vm(job, published.vmName);
    const disks = published.disks.map((d) => ({ diskId: vaultDiskId(job.namespace, vm.metadata?.uid ?? '', d.disk.name), backupId: d.manifestId }));
    if (!this.opts.forget) {
      this.opts.log?.warn('manifests of a failed job stay in the vault (no forget configured)', { job: job.name, disks });
      return disks.map((d) => `${d.diskId}/${d.backupId}: kept (no forget configured)`);
    }
    const reports = await this.opts.forget(ctx.vault, disks);
    return reports.map((r) => `${r.diskId}/${r.backupId}: ${r.outcome}`);
  }

  recordRecoveryPoint(job: JobRef, record: RecoveryPointRecord): Promise<string> {
    return retrying(() => this.record(job, record));
  }

  private async record(job: JobRef, record: RecoveryPointRecord): Promise<string> {
    const ctx = await this.reader.context(job);
    const vm = await this.reader.vm(job, record.vmName);
    const pvcs = new Map<string, V1PersistentVolumeClaim>();
    const times: number[] = [];
    for (const d of record.disks) {
      const pvc = await readOrUndefined(() => this.core.readNamespacedPersistentVolumeClaim({ namespace: job.namespace, name: d.disk.pvcName }));
      if (pvc) pvcs.set(d.disk.pvcName, pvc);
      const snap = d.snapshotName ? await readOrUndefined(() => this.custom.getNamespacedCustomObject({ ...SNAPSHOTS, namespace: job.namespace, name: d.snapshotName! }) as Promise<VolumeSnapshot>) : undefined;
      if (snap?.status?.creationTime) times.push(Date.parse(snap.status.creationTime));
    }
    const body = recoveryPointObject({ job, record, vm, pvcs, capturedAtMs: times.length ? Math.min(...times) : Date.now(), ...(ctx.policy ? { policyName: ctx.policy.metadata.name ?? '' } : {}) });
    const name = body.metadata.name!;
    const rp = { group: GROUP, version: VERSION, plural: 'recoverypoints', namespace: job.namespace };
    await this.adopt(job, () => createOrAdopt<RecoveryPointObject>({
      kind: 'RecoveryPoint', name, job,
      read: () => this.custom.getNamespacedCustomObject({ ...rp, name }) as Promise<RecoveryPointObject>,
      create: () => this.custom.createNamespacedCustomObject({ ...rp, body }) as Promise<RecoveryPointObject>,
      isOurs: (o) => isSameRecoveryPoint(o, body),
    }));
    const { condition, ...fields } = recoveryPointStatus(record);
    await writeStatus<Record<string, unknown>>({
      api: customObjectStatusApi(this.opts.kubeConfig, rp),
      ref: { namespace: job.namespace, name },
      mutate: (cur) => ({ ...(cur.status ?? {}), ...fields, conditions: setConditions(cur.status?.conditions as Condition[] | undefined, [condition], Date.now()) }),
    });
    return name;
  }

  /** Deletes the job's pods, temporary PVCs and (unless kept) VolumeSnapshots; NotFound is success. */
  cleanup(job: JobRef, opts: { keepSnapshots: boolean }): Promise<void> {
    return retrying(() => this.clean(job, opts));
  }

  private async clean(job: JobRef, opts: { keepSnapshots: boolean }): Promise<void> {
    const ns = job.namespace;
    const labelSelector = jobSelector(job);
    const pods = await this.core.listNamespacedPod({ namespace: ns, labelSelector });
    for (const p of pods.items) await deleteIgnoringNotFound(() => this.core.deleteNamespacedPod({ namespace: ns, name: p.metadata!.name!, gracePeriodSeconds: 5 }));
    const pvcs = await this.core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector });
    for (const c of pvcs.items) await deleteIgnoringNotFound(() => this.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: c.metadata!.name! }));
    // A 404 on the list means the snapshot API is not installed: then this job made no snapshots (a job that
    // failed before snapshotting, e.g. PolicyNotFound, must still get its failure recorded).
    const snaps = ((await readOrUndefined(() => this.custom.listNamespacedCustomObject({ ...SNAPSHOTS, namespace: ns, labelSelector }))) ?? { items: [] }) as { items: VolumeSnapshot[] };
    const keeper = opts.keepSnapshots ? await this.recoveryPointOf(job) : undefined;
    for (const s of snaps.items) {
      const name = s.metadata!.name!;
      // Kept snapshots are the recovery point's instant-restore tier: they change owner from the job to the
      // recovery point, so deleting the job keeps them and deleting the recovery point removes them.
      if (keeper) await this.custom.patchNamespacedCustomObject({ ...SNAPSHOTS, namespace: ns, name, body: { metadata: { ownerReferences: [keeper] } } }, MERGE_PATCH);
      else await deleteIgnoringNotFound(() => this.custom.deleteNamespacedCustomObject({ ...SNAPSHOTS, namespace: ns, name }));
    }
  }

  private async recoveryPointOf(job: JobRef): Promise<V1OwnerReference | undefined> {
    const name = jobChildNames(job.name).recoveryPoint;
    const rp = await readOrUndefined(() => this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'recoverypoints', namespace: job.namespace, name }) as Promise<RecoveryPointObject>);
    if (rp?.spec.sourceBackup !== job.name || !rp.metadata.uid) return undefined;
    return { apiVersion: API_VERSION, kind: Kinds.RecoveryPoint, name, uid: rp.metadata.uid, controller: true };
  }

  /** Writes the job's status through the runtime's status writer (and records milestone Events). */
  writeStatus(job: JobRef, update: JobStatusUpdate): Promise<void> {
    return retrying(() => writeJobStatus({
      api: customObjectStatusApi(this.opts.kubeConfig, { group: GROUP, version: VERSION, plural: 'virtualmachinebackups' }),
      job, update, ...(this.opts.events ? { events: this.opts.events } : {}),
    }));
  }

  private async adopt<T>(job: JobRef, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof NameConflictError) await this.event(job, EventReasons.NameConflict, err.message, 'Warning');
      throw err;
    }
  }

  private async event(job: JobRef, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): Promise<void> {
    await this.opts.events?.record({ object: jobObject(job), type, reason, message });
  }
}
