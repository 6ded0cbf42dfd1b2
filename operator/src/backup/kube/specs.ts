// The children a backup job creates — the snapshot pod, the temporary PVCs restored from the snapshots,
// the transfer pods — as pure functions of the job. Every child carries an owner reference to the job
// (so deleting the job garbage-collects it) and Tresor's labels (so cleanup finds it by selector).
import type { KubernetesObject, V1OwnerReference, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { API_VERSION, Kinds, Labels, MANAGED_BY } from '../../api/constants.ts';
import { quantityToBytes } from '../../api/quantity.ts';
import { jobChildNames } from '../names.ts';
import type { JobRef, VmDisk } from '../ports.ts';
import type { FilesystemVaultAllowList } from '../../vaults/trust.ts';
import { DEFAULT_POD_RESOURCES, hardenPodSpec, type PodResources } from './hardening.ts';
import { KEY_FILE, type VaultAccess } from './vault-access.ts';

/** How the operator runs its pods (from its configuration). */
export interface PodSettings {
  /** The Tresor image; the snapshot and transfer pods run its `tresor` CLI. */
  readonly image: string;
  /** ServiceAccount of the snapshot pod: it freezes VMIs and creates VolumeSnapshots. */
  readonly snapshotServiceAccount?: string;
  /** ServiceAccount of the transfer pods: it may create and patch Events, to report progress (ADR 0052). */
  readonly transferServiceAccount?: string;
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** ServiceAccount of the vault check and maintenance pods (no token is mounted; ADR 0092); default: the transfer one. */
  readonly vaultServiceAccount?: string;
  /** Requests and limits of the pods; default DEFAULT_POD_RESOURCES. */
  readonly resources?: PodResources;
  /** Filesystem vaults granted to namespaces (ADR 0090); absent or empty: object-storage vaults only. */
  readonly filesystemVaults?: FilesystemVaultAllowList;
}

/** Tresor's role label values on the children of a job. */
export const Roles = { snapshot: 'snapshot', transfer: 'transfer', source: 'transfer-source' } as const;

/** Where a transfer pod sees its disk: a block device, or the directory holding disk.img. */
export const SOURCE_DEVICE = '/dev/tresor-source';
const SOURCE_DIR = '/var/lib/tresor/source';

/** The labels every child of `job` carries (plus role and disk where they apply). */
export function jobLabels(job: JobRef, vmName: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [Labels.ManagedBy]: MANAGED_BY, [Labels.Backup]: job.name, [Labels.VirtualMachine]: vmName, ...extra };
}

/** The label selector matching every child of `job`. */
export function jobSelector(job: JobRef): string {
  return `${Labels.ManagedBy}=${MANAGED_BY},${Labels.Backup}=${job.name}`;
}

/** The controller owner reference pointing at the job. */
export function ownerRef(job: JobRef): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: Kinds.VirtualMachineBackup, name: job.name, uid: job.uid, controller: true, blockOwnerDeletion: true };
}

/** True when obj was created for this job (owned by its UID), so adopting it is safe. */
export function ownedBy(obj: KubernetesObject, job: JobRef): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((o) => o.uid === job.uid) && obj.metadata?.labels?.[Labels.ManagedBy] === MANAGED_BY;
}

/** The vault's id of one VM disk: stable across jobs so `--parent auto` finds the previous backup. */
export function vaultDiskId(namespace: string, vmUid: string, disk: string): string {
  return `${namespace}.${vmUid}.${disk}`.replace(/[^A-Za-z0-9._-]/g, '-');
}

/**
 * The disks of a recovery point whose vault disk id is not the one the operator derives from the point's
 * own namespace, VM UID and disk name: data of another namespace or VM, which restore and forget refuse
 * (a forged or copied point must not reach another tenant's disks in a shared repository; review H4).
 */
export function foreignDisks(namespace: string, vmUid: string | undefined, disks: ReadonlyArray<{ readonly name: string; readonly vaultDiskId: string }>): string[] {
  return disks.filter((d) => d.vaultDiskId !== vaultDiskId(namespace, vmUid ?? '', d.name)).map((d) => d.name);
}

/** What the snapshot pod is told to do. */
export interface SnapshotPodInput {
  readonly job: JobRef;
  readonly vmName: string;
  readonly disks: readonly VmDisk[];
  readonly freeze: boolean;
  readonly runHooks: boolean;
  readonly freezeTimeoutMs: number;
}

/** The snapshot pod: freeze, one VolumeSnapshot per disk, thaw; its report is the termination message. */
export function snapshotPod(input: SnapshotPodInput, settings: PodSettings): V1Pod {
  const { job } = input;
  const args = [
    'snapshot', '--namespace', job.namespace, '--vmi', input.vmName, '--job', job.name, '--job-uid', job.uid,
    '--freeze-timeout', `${Math.ceil(input.freezeTimeoutMs)}ms`, '--termination-log', '/dev/termination-log',
    ...input.disks.flatMap((d) => ['--disk', `${d.name}=${d.pvcName}`]),
    ...(input.freeze ? ['--freeze'] : []),
    ...(input.runHooks ? ['--hooks'] : []),
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: jobChildNames(job.name).snapshotPod, namespace: job.namespace,
      labels: jobLabels(job, input.vmName, { [Labels.Role]: Roles.snapshot }), ownerReferences: [ownerRef(job)],
    },
    spec: hardenPodSpec({
      restartPolicy: 'Never',
      ...(settings.snapshotServiceAccount ? { serviceAccountName: settings.snapshotServiceAccount } : {}),
      ...(settings.nodeSelector ? { nodeSelector: { ...settings.nodeSelector } } : {}),
      containers: [{ name: 'snapshot', image: settings.image, command: ['tresor'], args, terminationMessagePolicy: 'FallbackToLogsOnError' }],
    }, { resources: (settings.resources ?? DEFAULT_POD_RESOURCES).small, token: true }),
  };
}

/** The temporary PVC a disk's transfer pod reads: restored from the disk's VolumeSnapshot. */
export function sourcePvc(input: { job: JobRef; vmName: string; disk: VmDisk; storageClassName?: string; size: string }): V1PersistentVolumeClaim {
  const names = jobChildNames(input.job.name);
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: names.sourcePvc(input.disk.name), namespace: input.job.namespace,
      labels: jobLabels(input.job, input.vmName, { [Labels.Role]: Roles.source, [Labels.Disk]: input.disk.name }),
      ownerReferences: [ownerRef(input.job)],
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      volumeMode: input.disk.volumeMode,
      ...(input.storageClassName ? { storageClassName: input.storageClassName } : {}),
      resources: { requests: { storage: input.size } },
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: names.volumeSnapshot(input.disk.name) },
    },
  };
}

/** The downward-API variables naming the pod, so the mover can report progress against it. */
export const POD_IDENTITY_ENV = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
];

/** What one transfer pod needs. */
export interface TransferPodInput {
  readonly job: JobRef;
  readonly vmName: string;
  readonly disk: VmDisk;
  readonly attempt: number;
  readonly diskId: string;
  readonly forceFull: boolean;
  readonly vault: VaultAccess;
  readonly bandwidthLimit?: string;
}

/**
 * A disk's transfer pod: `tresor disk backup --json` with its result redirected into the termination
 * message (the mover prints it on stdout); on failure the log tail becomes the message instead.
 */
export function transferPod(input: TransferPodInput, settings: PodSettings): V1Pod {
  const { job, disk } = input;
  const names = jobChildNames(job.name);
  const block = disk.volumeMode === 'Block';
  const source = block ? SOURCE_DEVICE : `${SOURCE_DIR}/disk.img`;
  const backupArgs = [
    'disk', 'backup', '--vault', input.vault.url, '--key-file', KEY_FILE, '--source', source, '--disk-id', input.diskId,
    '--parent', input.forceFull ? 'none' : 'auto', '--json', '--progress-events',
    // A policy's quantity (M = 10^6, Mi = 2^20, as kubectl reads it) goes to the mover as plain bytes.
    ...(input.bandwidthLimit ? ['--bandwidth', String(quantityToBytes(input.bandwidthLimit))] : []),
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: names.transferPod(disk.name, input.attempt), namespace: job.namespace,
      labels: jobLabels(job, input.vmName, { [Labels.Role]: Roles.transfer, [Labels.Disk]: disk.name }),
      ownerReferences: [ownerRef(job)],
    },
    spec: hardenPodSpec({
      restartPolicy: 'Never',
      ...(settings.transferServiceAccount ? { serviceAccountName: settings.transferServiceAccount } : {}),
      ...(settings.nodeSelector ? { nodeSelector: { ...settings.nodeSelector } } : {}),
      volumes: [{ name: 'source', persistentVolumeClaim: { claimName: names.sourcePvc(disk.name), readOnly: true } }, ...input.vault.volumes],
      containers: [{
        name: 'transfer',
        image: settings.image,
        // exec keeps the mover as the container's main process (signals reach it); "$@" keeps arguments unquoted.
        command: ['sh', '-c', 'exec tresor "$@" > /dev/termination-log', 'tresor'],
        args: backupArgs,
        env: [...input.vault.env, ...POD_IDENTITY_ENV],
        terminationMessagePolicy: 'FallbackToLogsOnError',
        volumeMounts: [...input.vault.mounts, ...(block ? [] : [{ name: 'source', mountPath: SOURCE_DIR, readOnly: true }])],
        ...(block ? { volumeDevices: [{ name: 'source', devicePath: SOURCE_DEVICE }] } : {}),
      }],
    }, { resources: (settings.resources ?? DEFAULT_POD_RESOURCES).data, token: true }),
  };
}
