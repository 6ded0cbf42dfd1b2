// RecoveryPoint: a VM as it was at one moment, restorable from the vault (and for a while from the kept
// snapshot). Its spec is a record and never changes; status says whether it can still be used.
import { Type, type Static } from '@sinclair/typebox';
import { BackupTypes, ConditionTypes, ConsistencyLevels, Kinds, RecoveryPointTiers } from './constants.ts';
import { AGE_COLUMN, conditionColumn, type KindDefinition } from './kind.ts';
import { Conditions, immutable, int, label, list, listMap, localRef, name, obj, oneOf, opaque, rule, str, time } from './schema.ts';
import { Digest, ManifestId, VaultDiskId, VolumeMode } from './virtualmachinebackup.ts';

/** One disk as recorded in a recovery point. */
export const RecoveryPointDisk = obj('One disk of the VM as it is stored in the vault.', {
  name: label('Name of the volume in the captured VM spec.'),
  vaultDiskId: VaultDiskId('The disk\'s id in the vault; with manifestId it names the manifest to restore from.'),
  manifestId: ManifestId('The backup id of the disk\'s manifest (block map) in the vault.'),
  parentManifestId: Type.Optional(ManifestId('The manifest this one is incremental to; absent for a full backup.')),
  type: oneOf(BackupTypes, 'Whether this disk\'s backup was Full or Incremental (restores never need the parent chain).'),
  sizeBytes: int('Logical size of the disk; a restore needs a PVC at least this large.', { minimum: 0 }),
  storedBytes: Type.Optional(int('Bytes this backup added to the vault.', { minimum: 0 })),
  digest: Type.Optional(Digest('Digest of the disk\'s content (algorithm:hex), checked after a restore when present.')),
  volumeMode: Type.Optional(VolumeMode),
  storageClassName: Type.Optional(str('Storage class of the source PVC, the default for restores.', { maxLength: 253 })),
  accessModes: Type.Optional(
    list(oneOf(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'], 'An access mode.'), 'Access modes of the source PVC.', 4),
  ),
});
/** One disk as recorded in a recovery point. */
export type RecoveryPointDisk = Static<typeof RecoveryPointDisk>;

/** RecoveryPoint `.spec`. */
export const RecoveryPointSpec = obj(
  'What was backed up, when, how consistently, and where each disk\'s data is. Immutable: written once by the backup job.',
  {
    vmName: label('Name of the VirtualMachine that was backed up.'),
    vmUID: Type.Optional(str('UID of that VirtualMachine, to tell apart a VM deleted and re-created under the same name.', { maxLength: 64 })),
    vmSpec: Type.Optional(opaque('The VirtualMachine\'s spec as captured at backup time; restores re-create the VM from it.')),
    capturedAt: time('When the snapshot was cut (the point in time this recovery point restores to).'),
    consistency: oneOf(ConsistencyLevels, 'The consistency of the snapshot.'),
    backupType: oneOf(BackupTypes, 'Full if every disk was backed up in full, else Incremental.'),
    sizeBytes: int('Sum of the disks\' logical sizes.', { minimum: 0 }),
    vaultRef: localRef('BackupVault', 'The vault holding the data.'),
    parent: Type.Optional(name('The previous recovery point of the same VM that the incremental disks build on.')),
    sourceBackup: name('The VirtualMachineBackup that created this recovery point.'),
    policyName: Type.Optional(name('The BackupPolicy whose retention applies, if any.')),
    disks: listMap(RecoveryPointDisk, 'name', 'One entry per disk backed up.', 64),
  },
  {
    'x-kubernetes-validations': [
      immutable('spec'),
      rule<{ disks?: unknown[] }>(
        { rule: 'size(self.disks) > 0', message: 'a recovery point needs at least one disk', fieldPath: '.disks' },
        (s) => (s.disks?.length ?? 0) > 0,
      ),
    ],
  },
);
/** RecoveryPoint `.spec`. */
export type RecoveryPointSpec = Static<typeof RecoveryPointSpec>;

/** RecoveryPoint `.status`. */
export const RecoveryPointStatus = obj('Whether and from where the recovery point can be restored.', {
  conditions: Type.Optional(Conditions),
  tier: Type.Optional(
    oneOf(RecoveryPointTiers, 'Where it can be restored from: the kept CSI snapshots (fast), the vault, or both.'),
  ),
  snapshots: Type.Optional(
    listMap(
      obj('A VolumeSnapshot kept for the instant-restore tier.', {
        disk: label('The disk this snapshot belongs to.'),
        volumeSnapshotName: name('Name of the VolumeSnapshot.'),
        expiryTime: Type.Optional(time('When the snapshot will be deleted.')),
      }),
      'disk',
      'Snapshots kept for the instant-restore tier.',
      64,
    ),
  ),
  expiryTime: Type.Optional(time('When retention will delete the recovery point (absent: kept until a rule releases it).')),
  lastVerifiedTime: Type.Optional(time('When the vault last verified every block this point references.')),
});
/** RecoveryPoint `.status`. */
export type RecoveryPointStatus = Static<typeof RecoveryPointStatus>;

/** The RecoveryPoint kind. */
export const RecoveryPoint: KindDefinition = {
  kind: Kinds.RecoveryPoint,
  plural: 'recoverypoints',
  singular: 'recoverypoint',
  shortNames: ['trp', 'rpoint'],
  description:
    'RecoveryPoint records one restorable state of a VirtualMachine: its captured spec, the consistency, and ' +
    'per disk the manifest in the vault with size and digest. The spec is immutable. ' +
    `Conditions: ${ConditionTypes.Available} (summary), ${ConditionTypes.Verified}.`,
  spec: RecoveryPointSpec,
  status: RecoveryPointStatus,
  selectableFields: ['.spec.vmName', '.spec.vaultRef.name'],
  printerColumns: [
    { name: 'VM', type: 'string', jsonPath: '.spec.vmName', description: 'The VirtualMachine.' },
    { name: 'Captured', type: 'date', jsonPath: '.spec.capturedAt', description: 'When the snapshot was cut.' },
    { name: 'Consistency', type: 'string', jsonPath: '.spec.consistency', description: 'Consistency of the snapshot.' },
    { name: 'Type', type: 'string', jsonPath: '.spec.backupType', description: 'Full or Incremental.' },
    { name: 'Size', type: 'integer', jsonPath: '.spec.sizeBytes', description: 'Logical size in bytes.' },
    { name: 'Tier', type: 'string', jsonPath: '.status.tier', description: 'Snapshot, Vault or SnapshotAndVault.' },
    conditionColumn('Available', ConditionTypes.Available, 'status'),
    { name: 'Expires', type: 'string', jsonPath: '.status.expiryTime', description: 'When retention deletes it.', priority: 1 },
    AGE_COLUMN,
  ],
};
