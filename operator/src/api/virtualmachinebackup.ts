// VirtualMachineBackup: one backup job of one VM — created by a policy's schedule or by a user ("back up
// now") — and everything it observed: the consistency reached and why, and per disk the type of backup,
// the reason for any fallback, the bytes moved and the progress.
import { Type, type Static } from '@sinclair/typebox';
import { BackupTypes, ChangeDetectionMethods, ConditionTypes, ConsistencyLevels, ConsistencyReasons, FallbackReasons, Kinds } from './constants.ts';
import { AGE_COLUMN, conditionColumn, type KindDefinition } from './kind.ts';
import { bool, Conditions, immutable, int, label, listMap, localRef, name, obj, oneOf, PhaseField, Progress, rule, str, time } from './schema.ts';

/** An identifier of a manifest in the vault (opaque to the API). */
export const ManifestId = (description: string): ReturnType<typeof str> =>
  str(description, { minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' });

/** A content digest, `algorithm:hex`. */
export const Digest = (description: string): ReturnType<typeof str> =>
  str(description, { maxLength: 160, pattern: '^[a-z0-9-]+:[a-f0-9]{32,128}$' });

/** The vault's identifier of a disk's backup history (the data mover's `--disk-id`). */
export const VaultDiskId = (description: string): ReturnType<typeof str> =>
  str(description, { minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });

/** The volume mode of a disk's PVC. */
export const VolumeMode = oneOf(['Block', 'Filesystem'], 'Volume mode of the disk\'s PVC (Filesystem PVCs hold disk.img).');

/** One disk of a backup job. */
export const DiskBackupStatus = obj(
  'The backup of one disk of the VM.',
  {
    name: label('Name of the volume in the VirtualMachine spec.'),
    pvcName: Type.Optional(name('The PersistentVolumeClaim that backs the disk.')),
    volumeMode: Type.Optional(VolumeMode),
    sizeBytes: Type.Optional(int('Logical size of the disk.', { minimum: 0 })),
    snapshotName: Type.Optional(name('The VolumeSnapshot cut for this disk.')),
    requestedType: oneOf(BackupTypes, 'The backup type the job asked for: Incremental unless forceFull or there is no parent.'),
    type: Type.Optional(oneOf(BackupTypes, 'The backup type actually made.')),
    changeDetection: Type.Optional(
      oneOf(ChangeDetectionMethods, 'How changed blocks were found: a changed-block list from the storage, hashing every block, or None (full).'),
    ),
    fallbackReason: Type.Optional(
      oneOf(FallbackReasons, 'Why the type or change detection is weaker than requested; set whenever type differs from requestedType.'),
    ),
    fallbackMessage: Type.Optional(str('Details of the fallback, for people.', { maxLength: 1024 })),
    vaultDiskId: Type.Optional(VaultDiskId('The disk\'s id in the vault, under which its backups (manifests) are listed.')),
    parentManifestId: Type.Optional(ManifestId('The backup id (manifest) of the previous backup of this disk that the incremental is based on.')),
    manifestId: Type.Optional(ManifestId('The backup id (manifest) this backup wrote.')),
    blockSize: Type.Optional(int('Block size of the manifest in bytes.', { minimum: 1 })),
    digest: Type.Optional(Digest('Digest of the disk\'s content as the vault recorded it.')),
    bytesRead: Type.Optional(int('Bytes read from the snapshot.', { minimum: 0 })),
    bytesUploaded: Type.Optional(int('Bytes uploaded to the vault after deduplication, compression and encryption.', { minimum: 0 })),
    progress: Type.Optional(Progress),
    phase: Type.Optional(PhaseField),
    attempts: Type.Optional(int('Transfer pods started for this disk so far.', { minimum: 0 })),
    message: Type.Optional(str('The latest error or note about this disk.', { maxLength: 4096 })),
  },
  {
    'x-kubernetes-validations': [
      rule<{ type?: string; requestedType: string; fallbackReason?: string }>(
        {
          rule: '!has(self.type) || self.type == self.requestedType || has(self.fallbackReason)',
          message: 'a disk whose type differs from requestedType must say why in fallbackReason',
          fieldPath: '.fallbackReason',
        },
        (s) => s.type === undefined || s.type === s.requestedType || s.fallbackReason !== undefined,
      ),
    ],
  },
);
/** One disk of a backup job. */
export type DiskBackupStatus = Static<typeof DiskBackupStatus>;

/** VirtualMachineBackup `.spec`. */
export const VirtualMachineBackupSpec = obj(
  'Which VM to back up and under which policy (scheduled) or into which vault (on demand). Immutable.',
  {
    vmName: label('Name of the VirtualMachine (kubevirt.io) in the same namespace.'),
    policyRef: Type.Optional(localRef('BackupPolicy', 'The policy whose settings apply; set by the scheduler.')),
    vaultRef: Type.Optional(localRef('BackupVault', 'For an on-demand backup without a policy: the vault to write to.')),
    consistency: Type.Optional(
      oneOf(ConsistencyLevels, 'For an on-demand backup: the weakest consistency accepted (a policy\'s backup uses the policy\'s).', {
        default: 'CrashConsistent',
      }),
    ),
    retainUntil: Type.Optional(time('Keep the recovery point at least until this time, whatever the policy\'s retention says.')),
    forceFull: Type.Optional(bool('Copy every block of every disk instead of only the changes since the last backup.', { default: false })),
  },
  {
    'x-kubernetes-validations': [
      rule<Record<string, unknown>>(
        { rule: 'has(self.policyRef) != has(self.vaultRef)', message: 'exactly one of spec.policyRef or spec.vaultRef must be set' },
        (s) => ('policyRef' in s) !== ('vaultRef' in s),
      ),
      immutable('spec'),
    ],
  },
);
/** VirtualMachineBackup `.spec`. */
export type VirtualMachineBackupSpec = Static<typeof VirtualMachineBackupSpec>;

/** VirtualMachineBackup `.status`. */
export const VirtualMachineBackupStatus = obj('How the job went, step by step and disk by disk.', {
  phase: Type.Optional(PhaseField),
  conditions: Type.Optional(Conditions),
  startTime: Type.Optional(time('When the job started.')),
  completionTime: Type.Optional(time('When the job succeeded or failed.')),
  vaultName: Type.Optional(name('The vault the data went to (from the policy or spec.vaultRef).')),
  guestAgent: Type.Optional(
    obj('Whether the guest agent was found (recorded on each backup; the first backup of a VM tells whether freezing is possible).', {
      connected: bool('The VirtualMachineInstance reported AgentConnected.'),
      message: Type.Optional(str('What was observed, e.g. why the agent is missing.', { maxLength: 1024 })),
    }),
  ),
  consistency: Type.Optional(
    obj('The consistency the snapshot reached, and why not a stronger one.', {
      level: oneOf(ConsistencyLevels, 'The consistency reached.'),
      reason: oneOf(ConsistencyReasons, 'Why the snapshot reached this level and not a stronger one.'),
      message: Type.Optional(str('Details, e.g. the freeze error.', { maxLength: 4096 })),
    }),
  ),
  backupType: Type.Optional(oneOf(BackupTypes, 'Full if every disk was backed up in full, else Incremental.')),
  progress: Type.Optional(Progress),
  disks: Type.Optional(listMap(DiskBackupStatus, 'name', 'One entry per disk of the VM.', 64)),
  recoveryPointName: Type.Optional(name('The RecoveryPoint this job created.')),
});
/** VirtualMachineBackup `.status`. */
export type VirtualMachineBackupStatus = Static<typeof VirtualMachineBackupStatus>;

/** The VirtualMachineBackup kind. */
export const VirtualMachineBackup: KindDefinition = {
  kind: Kinds.VirtualMachineBackup,
  plural: 'virtualmachinebackups',
  singular: 'virtualmachinebackup',
  shortNames: ['tvmb', 'tvmbackup'],
  description:
    'VirtualMachineBackup is one backup job of one VirtualMachine: snapshot (as consistent as the guest allows), ' +
    'transfer of every disk into the vault (only changed blocks when possible), cleanup, and a RecoveryPoint. ' +
    `Conditions: ${ConditionTypes.SnapshotTaken}, ${ConditionTypes.DataTransferred}, ${ConditionTypes.SnapshotDeleted}; summary ${ConditionTypes.Succeeded}. ` +
    'Not to be confused with KubeVirt\'s backup.kubevirt.io VirtualMachineBackup; use the short name tvmb.',
  spec: VirtualMachineBackupSpec,
  status: VirtualMachineBackupStatus,
  selectableFields: ['.spec.vmName'],
  printerColumns: [
    { name: 'VM', type: 'string', jsonPath: '.spec.vmName', description: 'The VirtualMachine backed up.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the conditions.' },
    { name: 'Consistency', type: 'string', jsonPath: '.status.consistency.level', description: 'Consistency reached.' },
    { name: 'Type', type: 'string', jsonPath: '.status.backupType', description: 'Full or Incremental.' },
    { name: 'Progress', type: 'integer', jsonPath: '.status.progress.percent', description: 'Percent of bytes processed.' },
    { name: 'Recovery Point', type: 'string', jsonPath: '.status.recoveryPointName', description: 'The RecoveryPoint created.', priority: 1 },
    conditionColumn('Reason', ConditionTypes.Succeeded, 'reason'),
    AGE_COLUMN,
  ],
};
