// The RecoveryPoint a finished job records, as a pure function: its immutable spec (captured VM spec,
// consistency, per-disk manifest ids and sizes) and its first status (Available, tier, kept snapshots).
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { API_VERSION, ConditionTypes, Kinds, Labels, MANAGED_BY, Reasons, VAULT_DATA_FINALIZER } from '../../api/constants.ts';
import type { RecoveryPointDisk, RecoveryPointSpec, RecoveryPointStatus } from '../../api/recoverypoint.ts';
import type { RecoveryPointObject } from '../../api/types.ts';
import { formatTime } from '../../runtime/conditions.ts';
import { jobChildNames } from '../names.ts';
import type { JobRef, RecoveryPointRecord } from '../ports.ts';
import type { VirtualMachine } from './kubevirt.ts';
import { vaultDiskId } from './specs.ts';

/** What the recovery point is built from besides the workflow's record. */
export interface RecoveryPointInput {
  readonly job: JobRef;
  readonly record: RecoveryPointRecord;
  readonly vm: VirtualMachine;
  /** When the snapshots were cut (the earliest VolumeSnapshot creationTime), in ms. */
  readonly capturedAtMs: number;
  readonly policyName?: string;
  /** The source PVCs by name, for storage class and access modes a restore defaults to. */
  readonly pvcs: ReadonlyMap<string, V1PersistentVolumeClaim>;
}

function diskEntry(input: RecoveryPointInput, d: RecoveryPointRecord['disks'][number]): RecoveryPointDisk {
  const pvc = input.pvcs.get(d.disk.pvcName);
  const modes = pvc?.spec?.accessModes as RecoveryPointDisk['accessModes'] | undefined;
  return {
    name: d.disk.name,
    vaultDiskId: vaultDiskId(input.job.namespace, input.vm.metadata?.uid ?? '', d.disk.name),
    manifestId: d.result.manifestId,
    ...(d.result.parentManifestId && d.result.type === 'Incremental' ? { parentManifestId: d.result.parentManifestId } : {}),
    type: d.result.type,
    sizeBytes: d.disk.sizeBytes,
    storedBytes: d.result.bytesUploaded,
    volumeMode: d.disk.volumeMode,
    ...(pvc?.spec?.storageClassName ? { storageClassName: pvc.spec.storageClassName } : {}),
    ...(modes && modes.length > 0 ? { accessModes: modes } : {}),
  };
}

/** The RecoveryPoint object (spec only; status is written through the status subresource). */
export function recoveryPointObject(input: RecoveryPointInput): RecoveryPointObject {
  const { job, record } = input;
  const disks = record.disks.map((d) => diskEntry(input, d));
  const spec: RecoveryPointSpec = {
    vmName: record.vmName,
    ...(input.vm.metadata?.uid ? { vmUID: input.vm.metadata.uid } : {}),
    ...(input.vm.spec ? { vmSpec: input.vm.spec as Record<string, unknown> } : {}),
    capturedAt: formatTime(input.capturedAtMs),
    consistency: record.consistency,
    backupType: disks.every((d) => d.type === 'Full') ? 'Full' : 'Incremental',
    sizeBytes: record.disks.reduce((n, d) => n + d.disk.sizeBytes, 0),
    vaultRef: { name: record.vaultName },
    sourceBackup: job.name,
    ...(input.policyName ? { policyName: input.policyName } : {}),
    disks,
  };
  return {
    apiVersion: API_VERSION,
    kind: Kinds.RecoveryPoint,
    // No owner reference: the recovery point is the record of the backup and must outlive the job object.
    metadata: {
      name: jobChildNames(job.name).recoveryPoint, namespace: job.namespace,
      labels: { [Labels.ManagedBy]: MANAGED_BY, [Labels.Backup]: job.name, [Labels.VirtualMachine]: record.vmName, [Labels.Vault]: record.vaultName, ...(input.policyName ? { [Labels.Policy]: input.policyName } : {}) },
      // Set at creation, so no point is ever deleted without its data being forgotten in the vault (ADR 0073).
      finalizers: [VAULT_DATA_FINALIZER],
    },
    spec,
  };
}

/**
 * True when `existing` is the point this job would write (an earlier attempt of the same step): ours by
 * label, same job, VM, vault and, disk by disk, the same vault disk and manifest. The manifest ids are
 * only known once the transfers ended, so a point planted in advance never matches (review H4); the VM
 * spec and capture time are not compared, since a retry may read them anew.
 */
export function isSameRecoveryPoint(existing: RecoveryPointObject, want: RecoveryPointObject): boolean {
  const a = existing.spec;
  const b = want.spec;
  const disks = (s: RecoveryPointSpec | undefined): string => JSON.stringify((s?.disks ?? []).map((d) => [d.name, d.vaultDiskId, d.manifestId]));
  return existing.metadata.labels?.[Labels.ManagedBy] === MANAGED_BY && existing.metadata.labels?.[Labels.Backup] === want.metadata.labels?.[Labels.Backup]
    && a?.sourceBackup === b.sourceBackup && a?.vmName === b.vmName && a?.vmUID === b.vmUID && a?.vaultRef?.name === b.vaultRef.name && disks(a) === disks(b);
}

/** The first status of a recovery point: available from the vault, and from kept snapshots if any. */
export function recoveryPointStatus(record: RecoveryPointRecord): Pick<RecoveryPointStatus, 'tier' | 'snapshots'> & { condition: { type: string; status: 'True'; reason: string; message: string } } {
  const kept = record.keepSnapshots ? record.disks.filter((d) => d.snapshotName !== undefined) : [];
  return {
    tier: kept.length > 0 ? 'SnapshotAndVault' : 'Vault',
    ...(kept.length > 0 ? { snapshots: kept.map((d) => ({ disk: d.disk.name, volumeSnapshotName: d.snapshotName! })) } : {}),
    condition: { type: ConditionTypes.Available, status: 'True', reason: Reasons.InVault, message: `${record.disks.length} disk(s) in vault ${record.vaultName}` },
  };
}
