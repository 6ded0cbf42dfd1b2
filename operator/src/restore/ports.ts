// The narrow interface between a restore's orchestration and the cluster. The workflow decides order,
// retries and outcomes; everything that touches Kubernetes (PVCs, restore pods, the new VM, status)
// sits behind RestoreCluster, whose every method is idempotent: it adopts the child with the
// deterministic name when it exists, so a step re-run after a crash never creates a duplicate.
import type { JobStatusUpdate } from '../backup/ports.ts';

/** Which VirtualMachineRestore a workflow works for; the UID keys the DBOS workflow. */
export interface RestoreRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** One disk to restore: where its bytes are in the vault and the new PVC they go to. */
export interface RestoreDisk {
  readonly name: string;
  /** The new PersistentVolumeClaim (deterministic: `<target VM>-<disk>`). */
  readonly pvcName: string;
  readonly vaultDiskId: string;
  readonly manifestId: string;
  readonly sizeBytes: number;
  readonly volumeMode: 'Block' | 'Filesystem';
  readonly storageClassName?: string;
  readonly accessModes: readonly string[];
}

/** How the original VM ran before an in-place restore stopped it, to put it back the same way. */
export interface RunState {
  readonly running?: boolean;
  readonly runStrategy?: string;
  /** True when that state runs the VM (running: true, or runStrategy Always/RerunOnFailure/Once/Manual with a VMI). */
  readonly wasRunning: boolean;
}

/** Everything a restore needs, decided once at its start from the restore and its recovery point. */
export interface RestorePlan {
  /** NewVM creates targetVMName; InPlace swaps the disks of the existing targetVMName. */
  readonly mode: 'NewVM' | 'InPlace';
  readonly recoveryPoint: string;
  readonly vaultName: string;
  readonly targetVMName: string;
  readonly startVM: boolean;
  readonly disks: readonly RestoreDisk[];
  /** The VM spec captured at backup time, which the new VM is made from. */
  readonly vmSpec: Readonly<Record<string, unknown>>;
  /** InPlace: each restored disk's current claim, kept (not deleted) once the VM points at the new one. */
  readonly replacedClaims?: Readonly<Record<string, string>>;
  /** InPlace: how the VM ran when the restore found it. */
  readonly runState?: RunState;
}

/** A plan, or why the restore cannot start (a reason from Reasons and a message naming what to fix). */
export type PlanOutcome =
  | { readonly ok: true; readonly plan: RestorePlan }
  | { readonly ok: false; readonly reason: string; readonly message: string };

/** What the data mover reported for one disk (the restore pod's termination message). */
export interface DiskRestoreResult {
  readonly backupId: string;
  readonly diskSize: number;
  readonly bytesWritten: number;
  readonly bytesDownloaded: number;
  readonly durationMs: number;
}

/** One restore pod's end: the mover's result, or why it failed. */
export type DiskRestoreOutcome =
  | { readonly ok: true; readonly result: DiskRestoreResult }
  | { readonly ok: false; readonly message: string };

/** A status update of the restore: fields to set and conditions to apply. */
export type RestoreStatusUpdate = JobStatusUpdate;

/** What the orchestration asks of the cluster. Every method is idempotent and safe to repeat. */
export interface RestoreCluster {
  /** Reads the restore, its recovery point, vault and target; refusals come back as values. */
  plan(ref: RestoreRef): Promise<PlanOutcome>;
  /** Creates (or adopts) the disk's new PVC and attempt `attempt` of its restore pod; returns how it ended. */
  restoreDisk(ref: RestoreRef, plan: RestorePlan, disk: RestoreDisk, attempt: number): Promise<DiskRestoreOutcome>;
  /** Creates (or adopts) the new VirtualMachine on the restored PVCs; returns the captured disks left out of it. */
  createVirtualMachine(ref: RestoreRef, plan: RestorePlan): Promise<string[]>;
  /** InPlace: stops the VM (runStrategy Halted) and waits until its VMI is gone. */
  stopVirtualMachine(ref: RestoreRef, plan: RestorePlan): Promise<void>;
  /** InPlace: points the VM's restored volumes at the new PVCs (the old PVCs are left as they are). */
  swapVolumes(ref: RestoreRef, plan: RestorePlan): Promise<void>;
  /** InPlace: starts the VM (`start`), or puts back the run state the restore found (`asBefore`). */
  resumeVirtualMachine(ref: RestoreRef, plan: RestorePlan, how: 'start' | 'asBefore'): Promise<void>;
  /** Drops the restore's owner reference from the new PVCs, so they live on with the VM, not the restore. */
  releaseDisks(ref: RestoreRef, plan: RestorePlan): Promise<void>;
  /**
   * Deletes the restore pods; unless `keepTarget`, also the PVCs still owned by the restore and a VM it
   * created. Tolerates NotFound and never touches what the restore did not create.
   */
  cleanup(ref: RestoreRef, opts: { keepTarget: boolean }): Promise<void>;
  /** Writes the restore's status through the one status writer (and records its Events). */
  writeStatus(ref: RestoreRef, update: RestoreStatusUpdate): Promise<void>;
}
