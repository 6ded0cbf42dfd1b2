// VirtualMachineRestore: read a recovery point back onto new PVCs, and either create a new VM from the
// captured spec or put the disks under the original VM in place.
import { Type, type Static } from '@sinclair/typebox';
import { ConditionTypes, Kinds } from './constants.ts';
import { AGE_COLUMN, conditionColumn, type KindDefinition } from './kind.ts';
import { bool, Conditions, immutable, int, label, list, listMap, localRef, name, obj, PhaseField, Progress, rule, str, time } from './schema.ts';

const Target = obj(
  'Where the restored disks go: a new VirtualMachine, or the original one in place. Exactly one of newVMName or inPlace: true.',
  {
    newVMName: Type.Optional(label('Create a new VirtualMachine with this name from the captured spec, with new disks; it must not exist.')),
    inPlace: Type.Optional(
      bool('Put restored disks under the original VirtualMachine: it is stopped, each disk is restored into a new PVC and the VM\'s volumes are switched to them; the old PVCs are kept untouched under their own names.'),
    ),
  },
  {
    'x-kubernetes-validations': [
      rule<{ newVMName?: string; inPlace?: boolean }>(
        {
          rule: 'has(self.newVMName) != (has(self.inPlace) && self.inPlace)',
          message: 'exactly one of target.newVMName or target.inPlace: true must be set',
        },
        (s) => (s.newVMName !== undefined) !== (s.inPlace === true),
      ),
    ],
  },
);

/** VirtualMachineRestore `.spec`. */
export const VirtualMachineRestoreSpec = obj(
  'What to restore and where. Immutable.',
  {
    recoveryPointRef: localRef('RecoveryPoint', 'The recovery point to restore.'),
    target: Target,
    disks: Type.Optional(
      list(label('Name of a disk (volume) in the recovery point.'), 'Disks to restore; omit to restore every disk.', 64, {
        minItems: 1,
        'x-kubernetes-list-type': 'set',
      }),
    ),
    storageClassName: Type.Optional(str('Storage class of the new PVCs; defaults to each source PVC\'s class.', { minLength: 1, maxLength: 253 })),
    startVM: Type.Optional(bool('Start the VirtualMachine once its disks are restored.', { default: false })),
  },
  {
    'x-kubernetes-validations': [
      immutable('spec'),
    ],
  },
);
/** VirtualMachineRestore `.spec`. */
export type VirtualMachineRestoreSpec = Static<typeof VirtualMachineRestoreSpec>;

/** One disk of a restore. */
export const DiskRestoreStatus = obj('The restore of one disk.', {
  name: label('Name of the volume in the recovery point.'),
  pvcName: Type.Optional(name('The new PersistentVolumeClaim the disk is written to.')),
  sizeBytes: Type.Optional(int('Logical size of the disk.', { minimum: 0 })),
  bytesWritten: Type.Optional(int('Bytes written to the new PVC so far.', { minimum: 0 })),
  progress: Type.Optional(Progress),
  phase: Type.Optional(PhaseField),
  message: Type.Optional(str('The latest error or note about this disk.', { maxLength: 4096 })),
});
/** One disk of a restore. */
export type DiskRestoreStatus = Static<typeof DiskRestoreStatus>;

/** VirtualMachineRestore `.status`. */
export const VirtualMachineRestoreStatus = obj('How the restore is going.', {
  phase: Type.Optional(PhaseField),
  conditions: Type.Optional(Conditions),
  startTime: Type.Optional(time('When the restore started.')),
  completionTime: Type.Optional(time('When the restore succeeded or failed.')),
  targetVMName: Type.Optional(label('The VirtualMachine that holds the restored disks.')),
  progress: Type.Optional(Progress),
  disks: Type.Optional(listMap(DiskRestoreStatus, 'name', 'One entry per restored disk.', 64)),
});
/** VirtualMachineRestore `.status`. */
export type VirtualMachineRestoreStatus = Static<typeof VirtualMachineRestoreStatus>;

/** The VirtualMachineRestore kind. */
export const VirtualMachineRestore: KindDefinition = {
  kind: Kinds.VirtualMachineRestore,
  plural: 'virtualmachinerestores',
  singular: 'virtualmachinerestore',
  shortNames: ['tvmr', 'tvmrestore'],
  description:
    'VirtualMachineRestore restores a RecoveryPoint onto new PersistentVolumeClaims, as a new VirtualMachine or in ' +
    `place of the original. Conditions: ${ConditionTypes.DisksRestored}, ${ConditionTypes.VirtualMachineReady}; summary ${ConditionTypes.Succeeded}. ` +
    'Not to be confused with KubeVirt\'s snapshot.kubevirt.io VirtualMachineRestore; use the short name tvmr.',
  spec: VirtualMachineRestoreSpec,
  status: VirtualMachineRestoreStatus,
  printerColumns: [
    { name: 'Recovery Point', type: 'string', jsonPath: '.spec.recoveryPointRef.name', description: 'The recovery point restored.' },
    { name: 'Target', type: 'string', jsonPath: '.status.targetVMName', description: 'The VirtualMachine restored to.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the conditions.' },
    { name: 'Progress', type: 'integer', jsonPath: '.status.progress.percent', description: 'Percent of bytes written.' },
    conditionColumn('Reason', ConditionTypes.Succeeded, 'reason'),
    AGE_COLUMN,
  ],
};
