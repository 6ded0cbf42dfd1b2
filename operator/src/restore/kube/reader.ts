// Reading what a restore needs into values: the restore itself (checked by UID, so a restore deleted and
// re-created under the same name is never served by the old workflow), its recovery point, the vault
// and the VirtualMachine that holds the target name, if any.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, Reasons, VERSION } from '../../api/constants.ts';
import type { BackupVaultObject, RecoveryPointObject, VirtualMachineRestoreObject } from '../../api/types.ts';
import { readOrUndefined } from '../../backup/kube/client.ts';
import { KUBEVIRT, type VirtualMachine } from '../../backup/kube/kubevirt.ts';
import { TerminalError } from '../../runtime/errors.ts';
import type { RestoreRef } from '../ports.ts';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Reads the objects a restore works with (and records on the restore what its cleanup will need). */
export class RestoreReader {
  private readonly custom: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  private get<T>(namespace: string, plural: string, name: string): Promise<T | undefined> {
    return readOrUndefined(() => this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, name }) as Promise<T>);
  }

  /** The restore; throws a TerminalError (Cancelled) when it is gone or is another object of that name. */
  async restore(ref: RestoreRef): Promise<VirtualMachineRestoreObject> {
    const r = await this.get<VirtualMachineRestoreObject>(ref.namespace, 'virtualmachinerestores', ref.name);
    if (r === undefined || r.metadata.uid !== ref.uid) throw new TerminalError(`VirtualMachineRestore ${ref.namespace}/${ref.name} (uid ${ref.uid}) no longer exists`, { reason: Reasons.Cancelled });
    return r;
  }

  /** The restore when it still exists with this UID (being deleted included), else undefined. */
  async restoreIfSame(ref: RestoreRef): Promise<VirtualMachineRestoreObject | undefined> {
    const r = await this.get<VirtualMachineRestoreObject>(ref.namespace, 'virtualmachinerestores', ref.name);
    return r?.metadata.uid === ref.uid ? r : undefined;
  }

  /** Sets one annotation on the restore (its metadata, not its immutable spec). */
  async annotate(ref: RestoreRef, key: string, value: string): Promise<void> {
    const body = { metadata: { uid: ref.uid, annotations: { [key]: value } } };
    await this.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'virtualmachinerestores', namespace: ref.namespace, name: ref.name, body }, MERGE_PATCH);
  }

  /** A recovery point, undefined when absent. */
  recoveryPoint(namespace: string, name: string): Promise<RecoveryPointObject | undefined> {
    return this.get<RecoveryPointObject>(namespace, 'recoverypoints', name);
  }

  /** A vault, undefined when absent. */
  vault(namespace: string, name: string): Promise<BackupVaultObject | undefined> {
    return this.get<BackupVaultObject>(namespace, 'backupvaults', name);
  }

  /** A VirtualMachine, undefined when absent. */
  vm(namespace: string, name: string): Promise<VirtualMachine | undefined> {
    return readOrUndefined(() => this.custom.getNamespacedCustomObject({
      group: KUBEVIRT.group, version: KUBEVIRT.version, namespace, plural: KUBEVIRT.vms, name,
    }) as Promise<VirtualMachine>);
  }
}
