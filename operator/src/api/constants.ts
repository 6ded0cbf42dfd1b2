// Every name the API, the controllers, the pods and the CLI must agree on, in one place: the API group,
// kinds, condition types, condition reasons, event reasons, label and annotation keys, and the finalizer.
// Values are string literals (`as const`) so that each group also yields a string-union type.

/** The API group of every Tresor custom resource. */
export const GROUP = 'tresor.io';
/** The only served (and storage) version of the Tresor API. */
export const VERSION = 'v1alpha1';
/** `apiVersion` as written in manifests. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** The kubectl category that lists every Tresor kind (`kubectl get tresor`). */
export const CATEGORY = 'tresor';

/** The kinds Tresor defines. */
export const Kinds = {
  BackupVault: 'BackupVault',
  BackupPolicy: 'BackupPolicy',
  VirtualMachineBackup: 'VirtualMachineBackup',
  RecoveryPoint: 'RecoveryPoint',
  VirtualMachineRestore: 'VirtualMachineRestore',
} as const;
/** One of Tresor's kinds. */
export type KindName = (typeof Kinds)[keyof typeof Kinds];

/** Consistency levels, strongest first; a policy names the weakest it accepts. */
export const ConsistencyLevels = ['ApplicationConsistent', 'FileSystemConsistent', 'CrashConsistent'] as const;
/** How consistent a snapshot is: with application hooks/VSS, with a file-system freeze, or neither. */
export type ConsistencyLevel = (typeof ConsistencyLevels)[number];

/** Backup types of one disk. */
export const BackupTypes = ['Full', 'Incremental'] as const;
/** Whether a disk's backup copied every block or only those changed since its parent. */
export type BackupType = (typeof BackupTypes)[number];

/** Where a recovery point's data can be restored from. */
export const RecoveryPointTiers = ['Snapshot', 'Vault', 'SnapshotAndVault'] as const;
/** A recovery point's tier: the kept CSI snapshot, the vault, or both. */
export type RecoveryPointTier = (typeof RecoveryPointTiers)[number];

/** Phases shown in printer columns; always a projection of the conditions, never a source of truth. */
export const Phases = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;
/** A job's (backup's, restore's, disk transfer's) phase. */
export type Phase = (typeof Phases)[number];

/** How changed blocks were found for an incremental disk backup. */
export const ChangeDetectionMethods = ['ChangedBlockList', 'HashCompare', 'None'] as const;
/** The change-detection method a disk backup used (`None` for a full backup). */
export type ChangeDetectionMethod = (typeof ChangeDetectionMethods)[number];

/** Condition types, per kind; `Ready`/`Succeeded`/`Available` are the summary conditions. */
export const ConditionTypes = {
  /** BackupVault and BackupPolicy summary: the object can be used. */
  Ready: 'Ready',
  /** VirtualMachineBackup: every disk has a CSI snapshot cut inside the freeze window. */
  SnapshotTaken: 'SnapshotTaken',
  /** VirtualMachineBackup: every disk's data is in the vault. */
  DataTransferred: 'DataTransferred',
  /** VirtualMachineBackup: snapshots and temporary PVCs are gone (or kept as the instant-restore tier). */
  SnapshotDeleted: 'SnapshotDeleted',
  /** VirtualMachineBackup and VirtualMachineRestore summary: the job finished (True) or failed (False). */
  Succeeded: 'Succeeded',
  /** RecoveryPoint summary: it can be restored from. */
  Available: 'Available',
  /** RecoveryPoint: the vault holds every block its manifests reference, authenticated. */
  Verified: 'Verified',
  /** RecoveryPoint being deleted: its manifests were removed from the vault (False: why not yet). */
  VaultDataForgotten: 'VaultDataForgotten',
  /** VirtualMachineRestore: every selected disk has been written to its new PVC. */
  DisksRestored: 'DisksRestored',
  /** VirtualMachineRestore: the target VirtualMachine exists and references the restored disks. */
  VirtualMachineReady: 'VirtualMachineReady',
} as const;
/** A Tresor condition type. */
export type ConditionType = (typeof ConditionTypes)[keyof typeof ConditionTypes];

/** Condition reasons (CamelCase, as Kubernetes API conventions want). */
export const Reasons = {
  // generic progress
  Pending: 'Pending',
  InProgress: 'InProgress',
  Completed: 'Completed',
  // BackupVault
  VaultReady: 'VaultReady',
  VaultUnreachable: 'VaultUnreachable',
  VaultUninitialized: 'VaultUninitialized',
  CredentialsMissing: 'CredentialsMissing',
  KeySecretMissing: 'KeySecretMissing',
  WrongKey: 'WrongKey',
  KeyInvalid: 'KeyInvalid',
  BucketNotFound: 'BucketNotFound',
  CredentialsRejected: 'CredentialsRejected',
  VaultUnsupported: 'VaultUnsupported',
  /** A filesystem vault the operator's allow-list does not grant to the vault's namespace (ADR 0090). */
  VaultNotAllowed: 'VaultNotAllowed',
  /** The namespace refused the vault's check pod (Pod Security Admission, quota). */
  PodRejected: 'PodRejected',
  /** An S3 endpoint outside the operator's allow-list (TRESOR_S3_ENDPOINTS): the operator does not call it. */
  EndpointNotAllowed: 'EndpointNotAllowed',
  /** A RecoveryPoint naming vault data of another namespace or VM (review H4): never restored or forgotten. */
  ForeignVaultData: 'ForeignVaultData',
  /** The vault's config does not authenticate under the key: someone without the key changed it (ADR 0017). */
  VaultConfigNotAuthentic: 'VaultConfigNotAuthentic',
  /** Ready=True without opening the data: a filesystem vault only pods can mount (ADR 0070). */
  NotVerified: 'NotVerified',
  // BackupPolicy
  Active: 'Active',
  Suspended: 'Suspended',
  VaultNotFound: 'VaultNotFound',
  VaultNotReady: 'VaultNotReady',
  InvalidSchedule: 'InvalidSchedule',
  // VirtualMachineBackup
  VirtualMachineNotFound: 'VirtualMachineNotFound',
  PolicyNotFound: 'PolicyNotFound',
  SnapshotFailed: 'SnapshotFailed',
  ConsistencyNotMet: 'ConsistencyNotMet',
  TransferFailed: 'TransferFailed',
  Cancelled: 'Cancelled',
  // consistency decisions (status.consistency.reason)
  GuestAgentNotConnected: 'GuestAgentNotConnected',
  FreezeFailed: 'FreezeFailed',
  FreezeTimedOut: 'FreezeTimedOut',
  HookFailed: 'HookFailed',
  VirtualMachineStopped: 'VirtualMachineStopped',
  NoApplicationHooks: 'NoApplicationHooks',
  ApplicationHooksSucceeded: 'ApplicationHooksSucceeded',
  VSSSucceeded: 'VSSSucceeded',
  // backup-type fallbacks (status.disks[].fallbackReason)
  FullRequested: 'FullRequested',
  NoParent: 'NoParent',
  ParentNotInVault: 'ParentNotInVault',
  DiskResized: 'DiskResized',
  ChangedBlocksUnavailable: 'ChangedBlocksUnavailable',
  // RecoveryPoint
  InVault: 'InVault',
  Expired: 'Expired',
  VerificationPassed: 'VerificationPassed',
  VerificationFailed: 'VerificationFailed',
  /** The vault's retention lock (spec.immutability.retentionLockDays) keeps the data until a given time. */
  RetentionLocked: 'RetentionLocked',
  /** A backup of the same disk is writing to the vault; the forget is retried when it ended. */
  BackupInFlight: 'BackupInFlight',
  /** A VirtualMachineRestore reads from the recovery point being deleted; its data is forgotten after it. */
  RestoreInProgress: 'RestoreInProgress',
  Forgotten: 'Forgotten',
  // VirtualMachineRestore
  RecoveryPointNotFound: 'RecoveryPointNotFound',
  RecoveryPointUnavailable: 'RecoveryPointUnavailable',
  TargetExists: 'TargetExists',
  RestoreFailed: 'RestoreFailed',
  DiskNotFound: 'DiskNotFound',
  VirtualMachineCreated: 'VirtualMachineCreated',
  VolumesSwapped: 'VolumesSwapped',
} as const;
/** A Tresor condition reason. */
export type Reason = (typeof Reasons)[keyof typeof Reasons];

/** Why a snapshot reached the consistency level it did (VirtualMachineBackup `status.consistency.reason`). */
export const ConsistencyReasons = [
  Reasons.VSSSucceeded,
  Reasons.ApplicationHooksSucceeded,
  Reasons.NoApplicationHooks,
  Reasons.HookFailed,
  Reasons.VirtualMachineStopped,
  Reasons.GuestAgentNotConnected,
  Reasons.FreezeFailed,
  Reasons.FreezeTimedOut,
] as const;
/** A reason for a consistency level. */
export type ConsistencyReason = (typeof ConsistencyReasons)[number];

/** Why a disk's backup was full although incremental was possible in principle. */
export const FallbackReasons = [
  Reasons.FullRequested,
  Reasons.NoParent,
  Reasons.ParentNotInVault,
  Reasons.DiskResized,
  Reasons.ChangedBlocksUnavailable,
] as const;
/** A reason recorded when a disk's actual backup type or change detection is weaker than requested. */
export type FallbackReason = (typeof FallbackReasons)[number];

/** Event reasons (CamelCase) for `kubectl describe` and `kubectl get events`. */
export const EventReasons = {
  BackupScheduled: 'BackupScheduled',
  SlotSkipped: 'SlotSkipped',
  MissedSlots: 'MissedSlots',
  BackupStarted: 'BackupStarted',
  BackupSucceeded: 'BackupSucceeded',
  BackupFailed: 'BackupFailed',
  SnapshotTaken: 'SnapshotTaken',
  ConsistencyDegraded: 'ConsistencyDegraded',
  GuestAgentFound: 'GuestAgentFound',
  GuestAgentMissing: 'GuestAgentMissing',
  FreezeFailed: 'FreezeFailed',
  TransferStarted: 'TransferStarted',
  TransferProgress: 'TransferProgress',
  TransferRetried: 'TransferRetried',
  RecoveryPointCreated: 'RecoveryPointCreated',
  RecoveryPointExpired: 'RecoveryPointExpired',
  RecoveryPointDeleted: 'RecoveryPointDeleted',
  VaultDataForgotten: 'VaultDataForgotten',
  VaultDataRetained: 'VaultDataRetained',
  VaultDataKept: 'VaultDataKept',
  VaultGarbageCollected: 'VaultGarbageCollected',
  RestoreStarted: 'RestoreStarted',
  RestoreSucceeded: 'RestoreSucceeded',
  RestoreFailed: 'RestoreFailed',
  DiskRestored: 'DiskRestored',
  VirtualMachineCreated: 'VirtualMachineCreated',
  VolumesSwapped: 'VolumesSwapped',
  VaultUnreachable: 'VaultUnreachable',
  NameConflict: 'NameConflict',
} as const;
/** A Tresor event reason. */
export type EventReason = (typeof EventReasons)[keyof typeof EventReasons];

/** Label keys Tresor puts on the children it creates (and selects them by). */
export const Labels = {
  ManagedBy: 'app.kubernetes.io/managed-by',
  VirtualMachine: 'tresor.io/vm',
  Policy: 'tresor.io/policy',
  Backup: 'tresor.io/backup',
  Restore: 'tresor.io/restore',
  Disk: 'tresor.io/disk',
  Vault: 'tresor.io/vault',
  Role: 'tresor.io/role',
} as const;

/** The value of `app.kubernetes.io/managed-by` on Tresor's children. */
export const MANAGED_BY = 'tresor';

/** Annotation keys Tresor reads or writes. */
export const Annotations = {
  /** On a transfer pod's progress Event (ADR 0052): the latest sample as JSON `{ "bytesDone": n, "bytesTotal": n }`. */
  Progress: 'tresor.io/progress',
  /** On scheduled VirtualMachineBackups: the schedule slot (RFC 3339) this job was created for. */
  ScheduledTime: 'tresor.io/scheduled-time',
  /** On a BackupVault: any new value makes the operator check the vault again now. */
  CheckRequested: 'tresor.io/check-requested',
  /** On a BackupPolicy: any new value starts one backup of every protected VM now (ADR 0071). */
  RunNow: 'tresor.io/run-now',
  /** On a VirtualMachine: opt out of every policy that would select it. */
  Exclude: 'tresor.io/exclude',
  /** On a VirtualMachine a restore created: the UID of that VirtualMachineRestore (it is not an owner). */
  RestoreUID: 'tresor.io/restore-uid',
  /** On an in-place VirtualMachineRestore: how the VM ran before the restore stopped it (JSON), to put it back. */
  VmRunState: 'tresor.io/vm-run-state',
  /**
   * On a RecoveryPoint: "false" releases its deletion without touching the vault (the data stays, and stays
   * restorable with the CLI; see docs/api/recoverypoint.md). The escape hatch for a lock or a lost vault.
   */
  ForgetVaultData: 'tresor.io/forget-vault-data',
} as const;

/** The finalizer on RecoveryPoints that makes their deletion forget their manifests in the vault (ADR 0073). */
export const VAULT_DATA_FINALIZER = 'tresor.io/vault-data';

/** The finalizer Tresor puts on objects whose deletion needs cleanup (in-flight jobs, vaults). */
export const FINALIZER = 'tresor.io/cleanup';
