// Deciding what a restore does, as a pure function of what it found: the restore, its recovery point,
// whether the vault exists and who holds the target VM's name. Every refusal names what to fix.
import { ConditionTypes, Reasons } from '../api/constants.ts';
import type { RecoveryPointObject, VirtualMachineRestoreObject } from '../api/types.ts';
import { childName } from '../backup/names.ts';
import type { PlanOutcome, RestoreDisk } from './ports.ts';

/** Who holds the target VM's name: nobody, this restore (a step re-run after a crash), or someone else. */
export type TargetState = 'absent' | 'ours' | 'foreign';

/** What planRestore looks at. */
export interface PlanInput {
  readonly restore: VirtualMachineRestoreObject;
  readonly recoveryPoint: RecoveryPointObject | undefined;
  readonly vaultExists: boolean;
  readonly target: TargetState;
  /** Names of existing PVCs this restore does not own; a new disk's PVC name among them is refused. */
  readonly foreignPvcs?: readonly string[];
}

/** The new PVC of one disk of the restored VM: `<vm>-<disk>`, a valid name however long the parts. */
export function restoredPvcName(vmName: string, disk: string): string {
  return childName(vmName, disk);
}

const refuse = (reason: string, message: string): PlanOutcome => ({ ok: false, reason, message });

function availability(rp: RecoveryPointObject): string | undefined {
  const c = rp.status?.conditions?.find((x) => x.type === ConditionTypes.Available);
  if (c?.status === 'True') return undefined;
  return c ? `${c.reason}${c.message ? `: ${c.message}` : ''}` : 'it has no Available condition yet';
}

function selectDisks(restore: VirtualMachineRestoreObject, rp: RecoveryPointObject): { disks: RecoveryPointObject['spec']['disks'] } | { unknown: string[] } {
  const wanted = restore.spec.disks;
  if (wanted === undefined) return { disks: rp.spec.disks };
  const known = new Set(rp.spec.disks.map((d) => d.name));
  const unknown = wanted.filter((n) => !known.has(n));
  if (unknown.length > 0) return { unknown };
  return { disks: rp.spec.disks.filter((d) => wanted.includes(d.name)) };
}

function diskOf(d: RecoveryPointObject['spec']['disks'][number], vmName: string, storageClass: string | undefined): RestoreDisk {
  const sc = storageClass ?? d.storageClassName;
  return {
    name: d.name,
    pvcName: restoredPvcName(vmName, d.name),
    vaultDiskId: d.vaultDiskId,
    manifestId: d.manifestId,
    sizeBytes: d.sizeBytes,
    volumeMode: d.volumeMode === 'Block' ? 'Block' : 'Filesystem',
    ...(sc ? { storageClassName: sc } : {}),
    accessModes: d.accessModes && d.accessModes.length > 0 ? [...d.accessModes] : ['ReadWriteOnce'],
  };
}

/** The restore's plan, or the first reason it cannot run (in the order a person would fix them). */
export function planRestore(input: PlanInput): PlanOutcome {
  const { restore, recoveryPoint: rp } = input;
  const rpName = restore.spec.recoveryPointRef.name;
  const target = restore.spec.target.newVMName;
  if (restore.spec.target.inPlace === true || target === undefined) {
    return refuse(Reasons.InPlaceNotSupported, 'target.inPlace is not supported yet: restore to a new VM with target.newVMName, then swap the disks by hand (see docs/api/virtualmachinerestore.md)');
  }
  if (rp === undefined) return refuse(Reasons.RecoveryPointNotFound, `RecoveryPoint ${rpName} not found in namespace ${restore.metadata.namespace ?? ''}: check spec.recoveryPointRef.name (kubectl get trp)`);
  const unavailable = availability(rp);
  if (unavailable !== undefined) return refuse(Reasons.RecoveryPointUnavailable, `RecoveryPoint ${rpName} is not Available (${unavailable}); pick another recovery point`);
  if (rp.spec.vmSpec === undefined) return refuse(Reasons.RecoveryPointUnavailable, `RecoveryPoint ${rpName} records no VirtualMachine spec, so no VM can be created from it`);
  const sel = selectDisks(restore, rp);
  if ('unknown' in sel) {
    return refuse(Reasons.DiskNotFound, `spec.disks names ${sel.unknown.join(', ')}, not in RecoveryPoint ${rpName}; its disks are ${rp.spec.disks.map((d) => d.name).join(', ')}`);
  }
  if (input.target === 'foreign') return refuse(Reasons.TargetExists, `VirtualMachine ${target} already exists; choose another target.newVMName (a restore never overwrites a VM)`);
  const disks = sel.disks.map((d) => diskOf(d, target, restore.spec.storageClassName));
  const taken = disks.filter((d) => input.foreignPvcs?.includes(d.pvcName)).map((d) => d.pvcName);
  if (taken.length > 0) return refuse(Reasons.TargetExists, `PersistentVolumeClaim(s) ${taken.join(', ')} already exist and are not this restore's; choose another target.newVMName`);
  if (!input.vaultExists) return refuse(Reasons.VaultNotFound, `BackupVault ${rp.spec.vaultRef.name} of RecoveryPoint ${rpName} not found`);
  return {
    ok: true,
    plan: { recoveryPoint: rpName, vaultName: rp.spec.vaultRef.name, targetVMName: target, startVM: restore.spec.startVM === true, disks, vmSpec: rp.spec.vmSpec },
  };
}
