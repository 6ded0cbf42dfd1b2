// RestoreCluster against the real Kubernetes API: every step creates (or adopts, after a crash) a child
// with a deterministic name, an owner reference to the restore and Tresor's labels, waits for it, and
// turns what it reports into values for the workflow. Nothing here decides order or outcome.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject, PatchStrategy, setHeaderOptions, type V1PersistentVolumeClaim, type V1Pod } from '@kubernetes/client-node';
import { Annotations, API_VERSION, ConditionTypes, EventReasons, GROUP, Kinds, Reasons, VERSION } from '../../api/constants.ts';
import { createOrAdopt, deleteIgnoringNotFound, NameConflictError, readOrUndefined, retrying, waitForPodEnd } from '../../backup/kube/client.ts';
import { KUBEVIRT, type VirtualMachine } from '../../backup/kube/kubevirt.ts';
import type { PodSettings } from '../../backup/kube/specs.ts';
import { vaultAccess } from '../../backup/kube/vault-access.ts';
import { TerminalError } from '../../runtime/errors.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import { customObjectStatusApi, writeStatus } from '../../runtime/status.ts';
import { planRestore } from '../plan.ts';
import { kubeRestoreProgressRelay } from '../progress.ts';
import type { DiskRestoreOutcome, PlanOutcome, RestoreCluster, RestoreDisk, RestorePlan, RestoreRef, RestoreStatusUpdate } from '../ports.ts';
import { ownedByRestore, restorePod, restorePvc, restoreSelector } from '../specs.ts';
import { applyRestoreUpdate, diskRunning, parseRestoreReport, restoreEvents } from '../status.ts';
import { createdBy, parseRunState, restoredVm } from '../vm.ts';
import { RestoreReader } from './reader.ts';
import { VmOps } from './vm-ops.ts';

/** Options of KubeRestoreCluster. */
export interface KubeRestoreClusterOptions {
  readonly kubeConfig: KubeConfig;
  readonly pods: PodSettings;
  readonly events?: EventRecorder;
  /** How long one restore pod may run; default 6 h. */
  readonly restoreTimeoutMs?: number;
  /** How long a pod may stay Pending (not scheduled, PVC not bound) before its attempt fails; default 10 min. */
  readonly pendingTimeoutMs?: number;
  /** How long an in-place restore waits for the VM to stop; default 10 min. */
  readonly stopTimeoutMs?: number;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const VMS = { group: KUBEVIRT.group, version: KUBEVIRT.version, plural: KUBEVIRT.vms };
const msg = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The restore as an involved object for Events. */
export function restoreObject(ref: RestoreRef): KubernetesObject {
  return { apiVersion: API_VERSION, kind: Kinds.VirtualMachineRestore, metadata: { name: ref.name, namespace: ref.namespace, uid: ref.uid } };
}

/** The RestoreCluster port implemented with client-node against a real apiserver. */
export class KubeRestoreCluster implements RestoreCluster {
  private readonly opts: KubeRestoreClusterOptions;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly reader: RestoreReader;
  private readonly vms: VmOps;

  constructor(opts: KubeRestoreClusterOptions) {
    this.opts = opts;
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.reader = new RestoreReader(opts.kubeConfig);
    this.vms = new VmOps(opts.kubeConfig, opts.stopTimeoutMs ?? 600_000);
  }

  /** Reads the restore, its recovery point, vault and target VM, and decides. */
  plan(ref: RestoreRef): Promise<PlanOutcome> {
    return retrying(async () => {
      const restore = await this.reader.restore(ref);
      const rp = await this.reader.recoveryPoint(ref.namespace, restore.spec.recoveryPointRef.name);
      const vault = rp ? await this.reader.vault(ref.namespace, rp.spec.vaultRef.name) : undefined;
      const inPlace = restore.spec.target.inPlace === true;
      const targetName = inPlace ? rp?.spec.vmName : restore.spec.target.newVMName;
      const vm = targetName ? await this.reader.vm(ref.namespace, targetName) : undefined;
      const target = vm === undefined ? 'absent' : createdBy(vm, ref) ? 'ours' : 'foreign';
      const foreignPvcs = targetName ? await this.foreignPvcs(ref, targetName) : [];
      const vaultReady = vault?.status?.conditions?.find((c) => c.type === ConditionTypes.Ready);
      return planRestore({ restore, recoveryPoint: rp, vaultExists: vault !== undefined, ...(vaultReady ? { vaultReady } : {}), target, foreignPvcs, ...(inPlace && vm ? { currentVm: vm } : {}) });
    });
  }

  /** The PVCs named like a restored disk of `vmName` (`<vm>-...`) that this restore does not own. */
  private async foreignPvcs(ref: RestoreRef, vmName: string): Promise<string[]> {
    const all = await this.core.listNamespacedPersistentVolumeClaim({ namespace: ref.namespace });
    return all.items.filter((c) => c.metadata?.name?.startsWith(`${vmName}-`) && !ownedByRestore(c, ref)).map((c) => c.metadata!.name!);
  }

  /** Creates (or adopts) the disk's PVC and restore pod attempt, and returns how the pod ended. */
  restoreDisk(ref: RestoreRef, plan: RestorePlan, disk: RestoreDisk, attempt: number): Promise<DiskRestoreOutcome> {
    return retrying(() => this.restoreOne(ref, plan, disk, attempt));
  }

  private async restoreOne(ref: RestoreRef, plan: RestorePlan, disk: RestoreDisk, attempt: number): Promise<DiskRestoreOutcome> {
    const ns = ref.namespace;
    await this.reader.restore(ref);
    const vault = await this.reader.vault(ns, plan.vaultName);
    if (vault === undefined) return { ok: false, message: `BackupVault ${plan.vaultName} not found` };
    const pvc = restorePvc(ref, plan.targetVMName, disk);
    await this.adopt(ref, () => createOrAdopt<V1PersistentVolumeClaim>({
      kind: 'PersistentVolumeClaim', name: disk.pvcName, job: ref, isOurs: (o) => ownedByRestore(o, ref),
      read: () => this.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: disk.pvcName }),
      create: () => this.core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc }),
    }));
    const body = restorePod({ ref, vmName: plan.targetVMName, disk, attempt, vault: vaultAccess(vault, this.opts.pods.filesystemVaults ?? []) }, this.opts.pods);
    const name = body.metadata!.name!;
    const { adopted } = await this.adopt(ref, () => createOrAdopt<V1Pod>({
      kind: 'Pod', name, job: ref, isOurs: (o) => ownedByRestore(o, ref),
      read: () => this.core.readNamespacedPod({ namespace: ns, name }),
      create: () => this.core.createNamespacedPod({ namespace: ns, body }),
    }));
    if (!adopted) await this.writeStatus(ref, diskRunning(disk, name, attempt));
    return this.podEnd(ref, disk, name);
  }

  private async podEnd(ref: RestoreRef, disk: RestoreDisk, name: string): Promise<DiskRestoreOutcome> {
    const timeoutMs = this.opts.restoreTimeoutMs ?? 6 * 3600_000;
    // While the pod runs, its progress goes onto the restore's status; a report, not a checkpoint.
    const relay = kubeRestoreProgressRelay(this.opts.kubeConfig, { ref, disk: disk.name, podName: name });
    const end = await waitForPodEnd({
      read: () => readOrUndefined(() => this.core.readNamespacedPod({ namespace: ref.namespace, name })),
      timeoutMs, pendingTimeoutMs: this.opts.pendingTimeoutMs ?? 600_000, what: 'restore',
      onRunning: () => relay.poll(),
    });
    if (end.state === 'succeeded') {
      await relay.flush();
      try {
        return { ok: true, result: parseRestoreReport(end.message, disk) };
      } catch (err) {
        return { ok: false, message: msg(err) };
      }
    }
    if (end.state === 'failed') return { ok: false, message: `restore pod ${name} failed (exit ${end.exitCode ?? '?'}): ${end.message.trim().slice(-1500)}` };
    if (end.state === 'gone') return { ok: false, message: `restore pod ${name} was deleted before it finished` };
    // A pod that timed out or cannot start is deleted: the next attempt gets a fresh one.
    await deleteIgnoringNotFound(() => this.core.deleteNamespacedPod({ namespace: ref.namespace, name }));
    return { ok: false, message: end.pending ? `restore pod ${name} could not start: ${end.pending}` : `restore pod ${name} did not finish within ${Math.round(timeoutMs / 1000)} s` };
  }

  /** Creates (or adopts) the VM; a same-named VM that this restore did not create is refused. */
  createVirtualMachine(ref: RestoreRef, plan: RestorePlan): Promise<string[]> {
    return retrying(async () => {
      await this.reader.restore(ref);
      const { vm, droppedDisks } = restoredVm(ref, plan);
      const params = { ...VMS, namespace: ref.namespace };
      await this.adopt(ref, () => createOrAdopt<VirtualMachine>({
        kind: 'VirtualMachine', name: plan.targetVMName, job: ref, isOurs: (o) => createdBy(o, ref),
        read: () => this.custom.getNamespacedCustomObject({ ...params, name: plan.targetVMName }) as Promise<VirtualMachine>,
        create: () => this.custom.createNamespacedCustomObject({ ...params, body: vm }) as Promise<VirtualMachine>,
      }));
      return droppedDisks;
    });
  }

  /** InPlace: halts the VM and waits until its VMI is gone. */
  stopVirtualMachine(ref: RestoreRef, plan: RestorePlan): Promise<void> {
    return retrying(async () => {
      const restore = await this.reader.restore(ref);
      // Recorded on the restore before the stop, so that deleting it in flight can put the VM back too.
      if (plan.runState && restore.metadata.annotations?.[Annotations.VmRunState] === undefined) {
        await this.reader.annotate(ref, Annotations.VmRunState, JSON.stringify({ vm: plan.targetVMName, ...plan.runState }));
      }
      await this.vms.stop(ref, plan);
    });
  }

  /** InPlace: points the VM's restored volumes at the new PVCs. */
  swapVolumes(ref: RestoreRef, plan: RestorePlan): Promise<void> {
    return retrying(async () => {
      await this.reader.restore(ref);
      await this.vms.swap(ref, plan);
    });
  }

  /** InPlace: starts the VM, or puts back its run state as the restore found it. */
  resumeVirtualMachine(ref: RestoreRef, plan: RestorePlan, how: 'start' | 'asBefore'): Promise<void> {
    return retrying(() => this.vms.resume(ref, plan, how));
  }

  /** Drops the restore's owner reference from each new PVC (they stay labelled with the restore). */
  releaseDisks(ref: RestoreRef, plan: RestorePlan): Promise<void> {
    return retrying(async () => {
      for (const d of plan.disks) {
        const pvc = await readOrUndefined(() => this.core.readNamespacedPersistentVolumeClaim({ namespace: ref.namespace, name: d.pvcName }));
        if (pvc === undefined || !ownedByRestore(pvc, ref)) continue;
        const rest = (pvc.metadata?.ownerReferences ?? []).filter((o) => o.uid !== ref.uid);
        await this.core.patchNamespacedPersistentVolumeClaim({ namespace: ref.namespace, name: d.pvcName, body: { metadata: { ownerReferences: rest.length > 0 ? rest : null } } }, MERGE_PATCH);
      }
    });
  }

  /** Deletes restore pods; unless keepTarget, the PVCs still owned by the restore and the VM it created. */
  cleanup(ref: RestoreRef, opts: { keepTarget: boolean }): Promise<void> {
    return retrying(async () => {
      const ns = ref.namespace;
      const labelSelector = restoreSelector(ref);
      const pods = await this.core.listNamespacedPod({ namespace: ns, labelSelector });
      for (const p of pods.items.filter((x) => ownedByRestore(x, ref))) await deleteIgnoringNotFound(() => this.core.deleteNamespacedPod({ namespace: ns, name: p.metadata!.name!, gracePeriodSeconds: 5 }));
      if (opts.keepTarget) return;
      const vms = (await this.custom.listNamespacedCustomObject({ ...VMS, namespace: ns, labelSelector })) as { items: VirtualMachine[] };
      for (const vm of vms.items.filter((x) => createdBy(x, ref))) await deleteIgnoringNotFound(() => this.custom.deleteNamespacedCustomObject({ ...VMS, namespace: ns, name: vm.metadata!.name! }));
      // Only PVCs the restore still owns: once released they are the VM's disks and never deleted here.
      const pvcs = await this.core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector });
      for (const c of pvcs.items.filter((x) => ownedByRestore(x, ref))) await deleteIgnoringNotFound(() => this.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: c.metadata!.name! }));
      // An in-place restore that stopped the VM and did not finish: the VM runs again as it did.
      const state = parseRunState((await this.reader.restoreIfSame(ref))?.metadata.annotations?.[Annotations.VmRunState]);
      if (state) await this.vms.putBack(ref, state.vm, state);
    });
  }

  /** Writes the restore's status through the runtime's status writer and records its milestone Events. */
  writeStatus(ref: RestoreRef, update: RestoreStatusUpdate): Promise<void> {
    return retrying(async () => {
      const result = await writeStatus<Record<string, unknown>>({
        api: customObjectStatusApi(this.opts.kubeConfig, { group: GROUP, version: VERSION, plural: 'virtualmachinerestores' }),
        ref: { namespace: ref.namespace, name: ref.name },
        mutate: (cur) => applyRestoreUpdate(cur.status, update, { nowMs: Date.now(), ...(cur.generation !== undefined ? { generation: cur.generation } : {}) }),
      });
      // Events only when the write changed something: a step replayed after a crash announces nothing twice.
      if (result !== 'written') return;
      for (const [type, reason, message] of restoreEvents(update)) await this.opts.events?.record({ object: restoreObject(ref), type, reason, message });
    });
  }

  private async adopt<T>(ref: RestoreRef, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof NameConflictError)) throw err;
      // Appeared after the plan looked: still never adopted or overwritten, and the restore fails saying so.
      const message = `${err.kind} ${err.objectName} already exists and was not created by this restore; refusing to adopt or overwrite it`;
      await this.opts.events?.record({ object: restoreObject(ref), type: 'Warning', reason: EventReasons.NameConflict, message });
      throw new TerminalError(message, { reason: Reasons.TargetExists, cause: err });
    }
  }
}
