// Gathering what a backup job needs, once, into values: the job, its policy (or its own vaultRef), the
// vault, the VM, its VMI and each disk's PVC. Missing objects become typed errors with the API's reasons.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { GROUP, Reasons, VERSION } from '../../api/constants.ts';
import { parseDuration } from '../../api/duration.ts';
import type { BackupPolicyObject, BackupVaultObject, VirtualMachineBackupObject } from '../../api/types.ts';
import { TerminalError } from '../../runtime/errors.ts';
import type { JobObservation, JobRef, VmDisk } from '../ports.ts';
import { DEFAULT_MAX_RETRIES } from '../retries.ts';
import { readOrUndefined } from './client.ts';
import { guestOf, KUBEVIRT, vmVolumeClaims, type VirtualMachine, type VirtualMachineInstance } from './kubevirt.ts';

/** The job with the settings that apply to it (from its policy, or its own spec for an on-demand run). */
export interface JobContext {
  readonly job: VirtualMachineBackupObject;
  readonly policy: BackupPolicyObject | undefined;
  readonly vault: BackupVaultObject;
}

/** Parses a quantity such as 10Gi or 1073741824 into bytes. */
export function quantityBytes(q: string | undefined): number {
  if (q === undefined) return 0;
  const m = /^([0-9.]+)([KMGTPE]i?|k|m)?$/.exec(q.trim());
  if (!m) return 0;
  const pow: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  return Math.floor(Number(m[1]) * (m[2] ? (pow[m[2]] ?? 1) : 1));
}

/** Reads the objects Tresor's own API holds about a job. */
export class JobReader {
  private readonly custom: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** Reads one Tresor object; undefined when absent. */
  get<T>(namespace: string, plural: string, name: string): Promise<T | undefined> {
    return readOrUndefined(() => this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }) as Promise<T>);
  }

  /** The job, its policy and its vault; throws a TerminalError naming what is missing. */
  async context(ref: JobRef): Promise<JobContext> {
    const job = await this.get<VirtualMachineBackupObject>(ref.namespace, 'virtualmachinebackups', ref.name);
    if (job === undefined || job.metadata.uid !== ref.uid) throw new TerminalError(`VirtualMachineBackup ${ref.namespace}/${ref.name} (uid ${ref.uid}) no longer exists`, { reason: Reasons.Cancelled });
    let policy: BackupPolicyObject | undefined;
    let vaultName = job.spec.vaultRef?.name;
    if (job.spec.policyRef) {
      policy = await this.get<BackupPolicyObject>(ref.namespace, 'backuppolicies', job.spec.policyRef.name);
      if (policy === undefined) throw new TerminalError(`BackupPolicy ${job.spec.policyRef.name} not found`, { reason: Reasons.PolicyNotFound });
      vaultName = policy.spec.vaultRef.name;
    }
    if (vaultName === undefined) throw new TerminalError('the job names neither spec.policyRef nor spec.vaultRef', { reason: Reasons.VaultNotFound });
    const vault = await this.get<BackupVaultObject>(ref.namespace, 'backupvaults', vaultName);
    if (vault === undefined) throw new TerminalError(`BackupVault ${vaultName} not found`, { reason: Reasons.VaultNotFound });
    return { job, policy, vault };
  }

  /** The job's VirtualMachine; throws VirtualMachineNotFound. */
  async vm(ref: JobRef, vmName: string): Promise<VirtualMachine> {
    const vm = await readOrUndefined(() => this.custom.getNamespacedCustomObject({
      group: KUBEVIRT.group, version: KUBEVIRT.version, namespace: ref.namespace, plural: KUBEVIRT.vms, name: vmName,
    }) as Promise<VirtualMachine>);
    if (vm === undefined) throw new TerminalError(`VirtualMachine ${ref.namespace}/${vmName} not found`, { reason: Reasons.VirtualMachineNotFound });
    return vm;
  }

  /** The VM's instance, undefined when the VM is stopped. */
  vmi(ref: JobRef, vmName: string): Promise<VirtualMachineInstance | undefined> {
    return readOrUndefined(() => this.custom.getNamespacedCustomObject({
      group: KUBEVIRT.group, version: KUBEVIRT.version, namespace: ref.namespace, plural: KUBEVIRT.vmis, name: vmName,
    }) as Promise<VirtualMachineInstance>);
  }
}

/** The policy's settings that shape one job, with the API's defaults. */
export function jobSettings(ctx: JobContext): Pick<JobObservation, 'required' | 'forceFull' | 'freezeTimeoutMs' | 'maxParallelDisks' | 'maxTransferRetries' | 'keepSnapshots' | 'vaultName'> & { hooksConfigured: boolean } {
  const p: Partial<BackupPolicyObject['spec']> = ctx.policy?.spec ?? {};
  const hooks = p.hooks ?? {};
  return {
    required: p.consistency ?? ctx.job.spec.consistency ?? 'CrashConsistent',
    forceFull: ctx.job.spec.forceFull === true,
    freezeTimeoutMs: parseDuration(p.freezeTimeout ?? '60s'),
    maxParallelDisks: p.transfer?.maxParallelDisks ?? 4,
    maxTransferRetries: p.transfer?.maxRetries ?? DEFAULT_MAX_RETRIES,
    keepSnapshots: parseDuration(p.instantRestore?.keepFor ?? '0s') > 0,
    vaultName: ctx.vault.metadata.name ?? '',
    hooksConfigured: hooks.pre !== undefined || hooks.post !== undefined,
  };
}

/** The VM's disks with their PVCs' size and volume mode; a missing or unbound PVC is terminal. */
export async function vmDisks(core: CoreV1Api, ref: JobRef, vm: VirtualMachine): Promise<VmDisk[]> {
  const claims = vmVolumeClaims(vm);
  if (claims.length === 0) throw new TerminalError(`VirtualMachine ${vm.metadata?.name} has no PVC-backed disks to back up`, { reason: Reasons.VirtualMachineNotFound });
  const out: VmDisk[] = [];
  for (const c of claims) {
    const pvc: V1PersistentVolumeClaim | undefined = await readOrUndefined(() => core.readNamespacedPersistentVolumeClaim({ namespace: ref.namespace, name: c.claimName }));
    if (pvc === undefined) throw new TerminalError(`PersistentVolumeClaim ${c.claimName} of disk ${c.name} not found`, { reason: Reasons.SnapshotFailed });
    const size = quantityBytes(pvc.status?.capacity?.storage ?? pvc.spec?.resources?.requests?.storage);
    out.push({ name: c.name, pvcName: c.claimName, volumeMode: pvc.spec?.volumeMode === 'Block' ? 'Block' : 'Filesystem', sizeBytes: size });
  }
  return out;
}

/** Observes a job: everything the workflow decides from, as values. */
export async function observeJob(kc: KubeConfig, reader: JobReader, ref: JobRef): Promise<JobObservation> {
  const ctx = await reader.context(ref);
  const vmName = ctx.job.spec.vmName;
  const vm = await reader.vm(ref, vmName);
  const disks = await vmDisks(kc.makeApiClient(CoreV1Api), ref, vm);
  const vmi = await reader.vmi(ref, vmName);
  const { hooksConfigured, ...settings } = jobSettings(ctx);
  return { vmName, guest: { ...guestOf(vmi), hooksConfigured }, disks, ...settings };
}
