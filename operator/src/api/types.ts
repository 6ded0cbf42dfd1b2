// The TypeScript shapes of whole Tresor objects as the apiserver returns them, for controllers and the CLI.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { BackupPolicySpec, BackupPolicyStatus } from './backuppolicy.ts';
import type { BackupVaultSpec, BackupVaultStatus } from './backupvault.ts';
import type { API_VERSION, Kinds } from './constants.ts';
import type { RecoveryPointSpec, RecoveryPointStatus } from './recoverypoint.ts';
import type { VirtualMachineBackupSpec, VirtualMachineBackupStatus } from './virtualmachinebackup.ts';
import type { VirtualMachineRestoreSpec, VirtualMachineRestoreStatus } from './virtualmachinerestore.ts';

/** A Tresor custom resource with its kind, spec and status types. */
export interface TresorResource<K extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: V1ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** A BackupVault object. */
export type BackupVaultObject = TresorResource<typeof Kinds.BackupVault, BackupVaultSpec, BackupVaultStatus>;
/** A BackupPolicy object. */
export type BackupPolicyObject = TresorResource<typeof Kinds.BackupPolicy, BackupPolicySpec, BackupPolicyStatus>;
/** A VirtualMachineBackup object. */
export type VirtualMachineBackupObject = TresorResource<typeof Kinds.VirtualMachineBackup, VirtualMachineBackupSpec, VirtualMachineBackupStatus>;
/** A RecoveryPoint object. */
export type RecoveryPointObject = TresorResource<typeof Kinds.RecoveryPoint, RecoveryPointSpec, RecoveryPointStatus>;
/** A VirtualMachineRestore object. */
export type VirtualMachineRestoreObject = TresorResource<typeof Kinds.VirtualMachineRestore, VirtualMachineRestoreSpec, VirtualMachineRestoreStatus>;

/** Any Tresor object. */
export type AnyTresorObject = BackupVaultObject | BackupPolicyObject | VirtualMachineBackupObject | RecoveryPointObject | VirtualMachineRestoreObject;
