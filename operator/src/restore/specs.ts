// The children a restore creates — one new PVC and restore pod(s) per disk — as pure functions of the
// restore. Each carries an owner reference to the restore (deleting it in flight garbage-collects them)
// and Tresor's labels (cleanup finds them by selector). Pod settings and vault access are the backup's.
import type { KubernetesObject, V1OwnerReference, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { API_VERSION, Kinds, Labels, MANAGED_BY } from '../api/constants.ts';
import { DEFAULT_POD_RESOURCES, hardenPodSpec } from '../backup/kube/hardening.ts';
import { POD_IDENTITY_ENV, type PodSettings } from '../backup/kube/specs.ts';
import { KEY_FILE, type VaultAccess } from '../backup/kube/vault-access.ts';
import { childName } from '../backup/names.ts';
import type { RestoreDisk, RestoreRef } from './ports.ts';

/** Tresor's role label value on restore pods and on the PVCs they fill. */
export const RestoreRoles = { pod: 'restore', disk: 'restored-disk' } as const;

/** Where a restore pod sees its target: a block device, or the directory that will hold disk.img. */
export const TARGET_DEVICE = '/dev/tresor-target';
export const TARGET_DIR = '/var/lib/tresor/target';

/** The restore pod of one disk; `attempt` counts from 0 so a retry never adopts a failed pod. */
export function restorePodName(restore: string, disk: string, attempt: number): string {
  return childName(restore, disk, 'restore', String(attempt));
}

/** The labels every child of the restore carries (plus role and disk). */
export function restoreLabels(ref: RestoreRef, vmName: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [Labels.ManagedBy]: MANAGED_BY, [Labels.Restore]: ref.name, [Labels.VirtualMachine]: vmName, ...extra };
}

/** The label selector matching every child of the restore. */
export function restoreSelector(ref: RestoreRef): string {
  return `${Labels.ManagedBy}=${MANAGED_BY},${Labels.Restore}=${ref.name}`;
}

/** The controller owner reference pointing at the restore. */
export function restoreOwnerRef(ref: RestoreRef): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: Kinds.VirtualMachineRestore, name: ref.name, uid: ref.uid, controller: true, blockOwnerDeletion: true };
}

/** True when obj is owned by this restore (its UID), so adopting or deleting it is safe. */
export function ownedByRestore(obj: KubernetesObject, ref: RestoreRef): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((o) => o.uid === ref.uid) && obj.metadata?.labels?.[Labels.ManagedBy] === MANAGED_BY;
}

/** The new PVC of one disk: the recorded volume mode, size and access modes; the chosen storage class. */
export function restorePvc(ref: RestoreRef, vmName: string, disk: RestoreDisk): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: disk.pvcName, namespace: ref.namespace,
      labels: restoreLabels(ref, vmName, { [Labels.Role]: RestoreRoles.disk, [Labels.Disk]: disk.name }),
      ownerReferences: [restoreOwnerRef(ref)],
    },
    spec: {
      accessModes: [...disk.accessModes],
      volumeMode: disk.volumeMode,
      ...(disk.storageClassName ? { storageClassName: disk.storageClassName } : {}),
      resources: { requests: { storage: String(disk.sizeBytes) } },
    },
  };
}

/** What one restore pod needs. */
export interface RestorePodInput {
  readonly ref: RestoreRef;
  readonly vmName: string;
  readonly disk: RestoreDisk;
  readonly attempt: number;
  readonly vault: VaultAccess;
}

/**
 * A disk's restore pod: `tresor disk restore --json` into the new PVC — the device itself in Block mode,
 * `disk.img` in the volume's root in Filesystem mode, as KubeVirt lays a filesystem disk out — with the
 * mover's result as the termination message (on failure the log tail instead).
 */
export function restorePod(input: RestorePodInput, settings: PodSettings): V1Pod {
  const { ref, disk } = input;
  const block = disk.volumeMode === 'Block';
  const args = [
    'disk', 'restore', '--vault', input.vault.url, '--key-file', KEY_FILE, '--disk-id', disk.vaultDiskId,
    '--backup', disk.manifestId, '--target', block ? TARGET_DEVICE : `${TARGET_DIR}/disk.img`, '--json', '--progress-events',
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: restorePodName(ref.name, disk.name, input.attempt), namespace: ref.namespace,
      labels: restoreLabels(ref, input.vmName, { [Labels.Role]: RestoreRoles.pod, [Labels.Disk]: disk.name }),
      ownerReferences: [restoreOwnerRef(ref)],
    },
    spec: hardenPodSpec({
      restartPolicy: 'Never',
      // The transfer pods' account: it may keep the pod's progress Event (ADR 0052), nothing else.
      ...(settings.transferServiceAccount ? { serviceAccountName: settings.transferServiceAccount } : {}),
      ...(settings.nodeSelector ? { nodeSelector: { ...settings.nodeSelector } } : {}),
      volumes: [{ name: 'target', persistentVolumeClaim: { claimName: disk.pvcName } }, ...input.vault.volumes],
      containers: [{
        name: 'restore',
        image: settings.image,
        // exec keeps the mover as the container's main process (signals reach it); "$@" keeps arguments unquoted.
        command: ['sh', '-c', 'exec tresor "$@" > /dev/termination-log', 'tresor'],
        args,
        env: [...input.vault.env, ...POD_IDENTITY_ENV],
        terminationMessagePolicy: 'FallbackToLogsOnError',
        volumeMounts: [...input.vault.mounts, ...(block ? [] : [{ name: 'target', mountPath: TARGET_DIR }])],
        ...(block ? { volumeDevices: [{ name: 'target', devicePath: TARGET_DEVICE }] } : {}),
      }],
    }, { resources: (settings.resources ?? DEFAULT_POD_RESOURCES).data, token: true }),
  };
}
