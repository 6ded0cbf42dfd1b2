// Deciding what a restore does, as a pure function of what it found: the restore, its recovery point,
// whether the vault exists, who holds the target VM's name and, in place, the VM as it is now. Every
// refusal names what to fix.
import { ConditionTypes, Reasons } from '../api/constants.ts';
import type { RecoveryPointObject, VirtualMachineRestoreObject } from '../api/types.ts';
import { vmVolumeClaims, type VirtualMachine } from '../backup/kube/kubevirt.ts';
import { foreignDisks } from '../backup/kube/specs.ts';
import { childName } from '../backup/names.ts';
import type { PlanOutcome, RestoreDisk, RunState } from './ports.ts';

/** Who holds the target VM's name: nobody, this restore (a step re-run after a crash), or someone else. */
export type TargetState = 'absent' | 'ours' | 'foreign';

/** What planRestore looks at. */
export interface PlanInput {
  readonly restore: VirtualMachineRestoreObject;
  readonly recoveryPoint: RecoveryPointObject | undefined;
  readonly vaultExists: boolean;
  /** The vault's Ready condition when its controller wrote one (a False one refuses the restore). */
  readonly vaultReady?: { readonly status: string; readonly reason: string; readonly message?: string };
  /** NewVM: who holds target.newVMName. */
  readonly target: TargetState;
  /** Names of existing PVCs this restore does not own; a new disk's PVC name among them is refused. */
  readonly foreignPvcs?: readonly string[];
  /** InPlace: the VirtualMachine the recovery point was taken of, as it is now (undefined when gone). */
  readonly currentVm?: VirtualMachine;
}

/** The new PVC of one disk of a new VM: `<vm>-<disk>`, a valid name however long the parts. */
export function restoredPvcName(vmName: string, disk: string): string {
  return childName(vmName, disk);
}

/** The new PVC of one disk restored in place: `<vm>-<disk>-<8 chars of the restore's UID>`, beside the old one. */
export function inPlacePvcName(vmName: string, disk: string, restoreUid: string): string {
  return childName(vmName, disk, restoreUid.replace(/-/g, '').slice(0, 8));
}

type RpDisk = RecoveryPointObject['spec']['disks'][number];
const refuse = (reason: string, message: string): PlanOutcome => ({ ok: false, reason, message });
const RUNNING_STRATEGIES = new Set(['Always', 'RerunOnFailure', 'Once']);

function availability(rp: RecoveryPointObject): string | undefined {
  const c = rp.status?.conditions?.find((x) => x.type === ConditionTypes.Available);
  if (c?.status === 'True') return undefined;
  return c ? `${c.reason}${c.message ? `: ${c.message}` : ''}` : 'it has no Available condition yet';
}

function selectDisks(restore: VirtualMachineRestoreObject, rp: RecoveryPointObject): { disks: RpDisk[] } | { unknown: string[] } {
  const wanted = restore.spec.disks;
  if (wanted === undefined) return { disks: rp.spec.disks };
  const known = new Set(rp.spec.disks.map((d) => d.name));
  const unknown = wanted.filter((n) => !known.has(n));
  if (unknown.length > 0) return { unknown };
  return { disks: rp.spec.disks.filter((d) => wanted.includes(d.name)) };
}

function diskOf(d: RpDisk, pvcName: string, storageClass: string | undefined): RestoreDisk {
  const sc = storageClass ?? d.storageClassName;
  return {
    name: d.name,
    pvcName,
    vaultDiskId: d.vaultDiskId,
    manifestId: d.manifestId,
    sizeBytes: d.sizeBytes,
    volumeMode: d.volumeMode === 'Block' ? 'Block' : 'Filesystem',
    ...(sc ? { storageClassName: sc } : {}),
    accessModes: d.accessModes && d.accessModes.length > 0 ? [...d.accessModes] : ['ReadWriteOnce'],
  };
}

function takenPvcs(input: PlanInput, disks: readonly RestoreDisk[]): PlanOutcome | undefined {
  const taken = disks.filter((d) => input.foreignPvcs?.includes(d.pvcName)).map((d) => d.pvcName);
  if (taken.length > 0) return refuse(Reasons.TargetExists, `PersistentVolumeClaim(s) ${taken.join(', ')} already exist and are not this restore's; choose another target.newVMName`);
  const vault = input.recoveryPoint?.spec.vaultRef.name ?? '';
  if (!input.vaultExists) return refuse(Reasons.VaultNotFound, `BackupVault ${vault} of RecoveryPoint ${input.restore.spec.recoveryPointRef.name} not found`);
  // Only a definite False: without a vault controller there is no condition, and the pods will tell.
  const ready = input.vaultReady;
  if (ready?.status === 'False') return refuse(Reasons.VaultNotReady, `BackupVault ${vault} is not Ready (${ready.reason}${ready.message ? `: ${ready.message}` : ''}); fix the vault, then create the restore again`);
  return undefined;
}

/** How a VM runs now, to put it back the same way after an in-place restore. */
export function runStateOf(vm: VirtualMachine): RunState {
  const { running, runStrategy } = vm.spec ?? {};
  return {
    ...(running !== undefined ? { running } : {}),
    ...(runStrategy !== undefined ? { runStrategy } : {}),
    wasRunning: running === true || RUNNING_STRATEGIES.has(runStrategy ?? ''),
  };
}

function planNewVm(input: PlanInput, rp: RecoveryPointObject, sel: readonly RpDisk[], target: string): PlanOutcome {
  const { restore } = input;
  const rpName = rp.metadata.name ?? '';
  if (rp.spec.vmSpec === undefined) return refuse(Reasons.RecoveryPointUnavailable, `RecoveryPoint ${rpName} records no VirtualMachine spec, so no VM can be created from it`);
  if (input.target === 'foreign') return refuse(Reasons.TargetExists, `VirtualMachine ${target} already exists; choose another target.newVMName (a restore never overwrites a VM)`);
  const disks = sel.map((d) => diskOf(d, restoredPvcName(target, d.name), restore.spec.storageClassName));
  const refused = takenPvcs(input, disks);
  if (refused) return refused;
  return {
    ok: true,
    plan: { mode: 'NewVM', recoveryPoint: rpName, vaultName: rp.spec.vaultRef.name, targetVMName: target, startVM: restore.spec.startVM === true, disks, vmSpec: rp.spec.vmSpec },
  };
}

function planInPlace(input: PlanInput, rp: RecoveryPointObject, sel: readonly RpDisk[]): PlanOutcome {
  const { restore, currentVm: vm } = input;
  const vmName = rp.spec.vmName;
  if (vm === undefined) return refuse(Reasons.VirtualMachineNotFound, `VirtualMachine ${vmName} no longer exists, so there is nothing to restore in place; restore it with target.newVMName: ${vmName}`);
  if (rp.spec.vmUID && vm.metadata?.uid !== rp.spec.vmUID) {
    return refuse(Reasons.VirtualMachineNotFound, `VirtualMachine ${vmName} was deleted and re-created since RecoveryPoint ${rp.metadata.name ?? ''} (its UID differs); restore to a new VM with target.newVMName`);
  }
  const claims = new Map(vmVolumeClaims(vm).map((c) => [c.name, c.claimName]));
  const missing = sel.filter((d) => !claims.has(d.name)).map((d) => d.name);
  if (missing.length > 0) return refuse(Reasons.DiskNotFound, `VirtualMachine ${vmName} has no PVC volume ${missing.join(', ')} now; restore those disks to a new VM, or list only ${[...claims.keys()].join(', ')} in spec.disks`);
  const disks = sel.map((d) => diskOf(d, inPlacePvcName(vmName, d.name, restore.metadata.uid ?? ''), restore.spec.storageClassName));
  const refused = takenPvcs(input, disks);
  if (refused) return refused;
  return {
    ok: true,
    plan: {
      mode: 'InPlace', recoveryPoint: rp.metadata.name ?? '', vaultName: rp.spec.vaultRef.name, targetVMName: vmName, startVM: restore.spec.startVM === true,
      disks, vmSpec: rp.spec.vmSpec ?? {}, replacedClaims: Object.fromEntries(sel.map((d) => [d.name, claims.get(d.name)!])), runState: runStateOf(vm),
    },
  };
}

/** The restore's plan, or the first reason it cannot run (in the order a person would fix them). */
export function planRestore(input: PlanInput): PlanOutcome {
  const { restore, recoveryPoint: rp } = input;
  const rpName = restore.spec.recoveryPointRef.name;
  if (rp === undefined) return refuse(Reasons.RecoveryPointNotFound, `RecoveryPoint ${rpName} not found in namespace ${restore.metadata.namespace ?? ''}: check spec.recoveryPointRef.name (kubectl get trp)`);
  const unavailable = availability(rp);
  if (unavailable !== undefined) return refuse(Reasons.RecoveryPointUnavailable, `RecoveryPoint ${rpName} is not Available (${unavailable}); pick another recovery point`);
  const foreign = foreignDisks(rp.metadata.namespace ?? '', rp.spec.vmUID, rp.spec.disks);
  if (foreign.length > 0) {
    return refuse(Reasons.ForeignVaultData, `RecoveryPoint ${rpName} names vault data that is not its own VM's in namespace ${rp.metadata.namespace ?? ''} (disk(s) ${foreign.join(', ')}); it was not recorded by Tresor and is never restored`);
  }
  const sel = selectDisks(restore, rp);
  if ('unknown' in sel) {
    return refuse(Reasons.DiskNotFound, `spec.disks names ${sel.unknown.join(', ')}, not in RecoveryPoint ${rpName}; its disks are ${rp.spec.disks.map((d) => d.name).join(', ')}`);
  }
  const target = restore.spec.target.newVMName;
  if (restore.spec.target.inPlace === true) return planInPlace(input, rp, sel.disks);
  if (target === undefined) return refuse(Reasons.RestoreFailed, 'spec.target names neither newVMName nor inPlace: true');
  return planNewVm(input, rp, sel.disks, target);
}
