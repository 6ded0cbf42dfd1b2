// The narrow interface between a backup job's orchestration and the cluster. The workflow only decides
// order, limits and outcomes; everything that touches Kubernetes (pods, snapshots, PVCs, status) sits
// behind BackupCluster, whose every method is idempotent: it adopts the child with the deterministic
// name when it exists, so a step re-run after a crash never creates a duplicate.
import type { BackupType, ChangeDetectionMethod, ConsistencyLevel, FallbackReason } from '../api/constants.ts';
import type { ConditionUpdate } from '../runtime/conditions.ts';
import type { GuestObservation } from './consistency.ts';
import type { FreezeWindowResult } from './freeze-window.ts';

/** Which VirtualMachineBackup a workflow works for; the UID keys the DBOS workflow. */
export interface JobRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** One disk of the VM, as its spec and PVC say. */
export interface VmDisk {
  readonly name: string;
  readonly pvcName: string;
  readonly volumeMode: 'Block' | 'Filesystem';
  readonly sizeBytes: number;
}

/** Everything a job needs to know, gathered once at its start (values, never live objects). */
export interface JobObservation {
  readonly vmName: string;
  readonly guest: GuestObservation;
  readonly disks: readonly VmDisk[];
  readonly required: ConsistencyLevel;
  readonly forceFull: boolean;
  readonly freezeTimeoutMs: number;
  readonly maxParallelDisks: number;
  /** The policy's transfer.maxRetries: failed transfer pods retried per disk (the global limit caps it). */
  readonly maxTransferRetries: number;
  /** Keep the newest snapshot as the instant-restore tier instead of deleting it. */
  readonly keepSnapshots: boolean;
  readonly vaultName: string;
}

/** What the data mover reported for one disk (the transfer pod's termination message). */
export interface DiskTransferResult {
  readonly type: BackupType;
  readonly changeDetection: ChangeDetectionMethod;
  readonly fallbackReason?: FallbackReason;
  readonly fallbackMessage?: string;
  readonly manifestId: string;
  readonly parentManifestId?: string;
  readonly bytesRead: number;
  readonly bytesUploaded: number;
}

/** One transfer pod's end: the mover's result, or why it failed. */
export type TransferOutcome =
  | { readonly ok: true; readonly result: DiskTransferResult }
  | { readonly ok: false; readonly message: string };

/** A status update of the job: fields to set and conditions to apply (the writer keeps transition times). */
export interface JobStatusUpdate {
  readonly fields: Readonly<Record<string, unknown>>;
  readonly conditions: readonly ConditionUpdate[];
}

/** What the orchestration asks of the cluster. Every method is idempotent and safe to repeat. */
export interface BackupCluster {
  /** Reads the job, its VM, VMI, PVCs, policy and vault; throws a TerminalError when one is unusable. */
  observe(job: JobRef): Promise<JobObservation>;
  /** Runs (or adopts) the snapshot pod and returns its report once it has terminated. */
  runSnapshot(job: JobRef, plan: { freeze: boolean; runHooks: boolean; disks: readonly VmDisk[]; freezeTimeoutMs: number }): Promise<FreezeWindowResult>;
  /** Runs (or adopts) attempt `attempt` of one disk's transfer pod and returns how it ended. */
  runTransfer(job: JobRef, disk: VmDisk, attempt: number): Promise<TransferOutcome>;
  /** Creates (or adopts) the job's RecoveryPoint and returns its name. */
  recordRecoveryPoint(job: JobRef, point: RecoveryPointRecord): Promise<string>;
  /**
   * Forgets, in the job's vault, the manifests that some disks of a failed job published: no RecoveryPoint
   * records them, so nothing else ever would (ADR 0016). Idempotent; never throws for a forget that
   * must wait (retention lock, a backup of the disk in flight): those stay and are reported.
   */
  forgetPublished(job: JobRef, published: { readonly vaultName: string; readonly vmName: string; readonly disks: ReadonlyArray<{ readonly disk: VmDisk; readonly manifestId: string }> }): Promise<string[]>;
  /** Deletes the job's transfer pods, temporary PVCs and (unless kept) snapshots; tolerates NotFound. */
  cleanup(job: JobRef, opts: { keepSnapshots: boolean }): Promise<void>;
  /** Writes the job's status through the one status writer. */
  writeStatus(job: JobRef, update: JobStatusUpdate): Promise<void>;
}

/** What a RecoveryPoint records about a finished job. */
export interface RecoveryPointRecord {
  readonly vmName: string;
  readonly vaultName: string;
  readonly consistency: ConsistencyLevel;
  readonly disks: ReadonlyArray<{ readonly disk: VmDisk; readonly result: DiskTransferResult; readonly snapshotName?: string }>;
  readonly keepSnapshots: boolean;
}
