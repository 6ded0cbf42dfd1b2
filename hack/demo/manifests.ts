// The objects of the demo, as a platform team would write them: the Secrets and BackupVault, the
// snapshot pod's ServiceAccount, a KubeVirt VM with two disks (one Block, one Filesystem volume), a
// BackupPolicy selecting it, an on-demand VirtualMachineBackup and a VirtualMachineRestore.

/** What the manifests depend on in this environment. */
export interface DemoSettings {
  readonly namespace: string;
  readonly node: string;
  readonly bucket: string;
  readonly s3: { readonly endpoint: string; readonly region: string; readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly vaultKeyHex: string;
}

type Obj = Record<string, unknown>;

export const VM = 'web-1';
export const DISKS = [
  { name: 'root', mode: 'Block', size: '64Mi' },
  { name: 'data', mode: 'Filesystem', size: '64Mi' },
] as const;

/** The vault: Secrets with the key and the S3 credentials, and the BackupVault pointing at the bucket. */
export function vaultObjects(s: DemoSettings): Obj[] {
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vault-key' }, stringData: { key: s.vaultKeyHex } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's3-credentials' }, stringData: { AWS_ACCESS_KEY_ID: s.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s.s3.secretAccessKey } },
    {
      apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'offsite' },
      spec: {
        s3: { endpoint: s.s3.endpoint, bucket: s.bucket, prefix: 'vms', region: s.s3.region, credentialsSecretRef: { name: 's3-credentials' }, forcePathStyle: true },
        encryption: { keySecretRef: { name: 'vault-key' } },
      },
    },
  ];
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

function boundServiceAccount(namespace: string, name: string, rules: Rule[]): Obj[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  ];
}

/** The ServiceAccounts snapshot and transfer pods run as, with the few rights they use. */
export function podRbac(namespace: string): Obj[] {
  return [
    ...boundServiceAccount(namespace, 'tresor-snapshot', [
      { apiGroups: ['snapshot.storage.k8s.io'], resources: ['volumesnapshots'], verbs: ['get', 'list', 'create'] },
      { apiGroups: ['subresources.kubevirt.io'], resources: ['virtualmachineinstances/freeze', 'virtualmachineinstances/unfreeze'], verbs: ['update'] },
    ]),
    // Transfer pods report progress in an Event on their own pod (docs/adr/0052).
    ...boundServiceAccount(namespace, 'tresor-transfer', [{ apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] }]),
  ];
}

/** A running VM (the local node agent plays a Linux guest with qemu-guest-agent), its two PVCs, on the local node. */
export function vmObjects(s: DemoSettings): Obj[] {
  const pvcs = DISKS.map((d) => ({
    apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `${VM}-${d.name}` },
    spec: { accessModes: ['ReadWriteOnce'], volumeMode: d.mode, resources: { requests: { storage: d.size } } },
  }));
  const vm = {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine',
    metadata: { name: VM, labels: { app: 'web', tier: 'production' } },
    spec: {
      runStrategy: 'Always',
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': s.node },
          domain: { devices: { disks: DISKS.map((d) => ({ name: d.name, disk: { bus: 'virtio' } })) }, resources: { requests: { memory: '1Gi' } } },
          volumes: DISKS.map((d) => ({ name: d.name, persistentVolumeClaim: { claimName: `${VM}-${d.name}` } })),
        },
      },
    },
  };
  return [...pvcs, vm];
}

/** Nightly backups of every production VM, GFS retention, at least file-system consistent. */
export function policy(): Obj {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'nightly' },
    spec: {
      schedule: '30 1 * * *', timeZone: 'Europe/Berlin',
      vmSelector: { matchLabels: { tier: 'production' } },
      vaultRef: { name: 'offsite' },
      retention: { keepLast: 3, daily: 7, weekly: 4, monthly: 12 },
      consistency: 'FileSystemConsistent',
      transfer: { maxParallelDisks: 2, maxRetries: 2 },
    },
  };
}

/** A backup now, under the policy's settings (what `tresor.io` users do before a risky change). */
export function backupNow(name: string): Obj {
  return { apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name }, spec: { vmName: VM, policyRef: { name: 'nightly' } } };
}

/** Restore a recovery point to a new VM next to the original. */
export function restoreTo(name: string, recoveryPoint: string, newVm: string): Obj {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore', metadata: { name },
    spec: { recoveryPointRef: { name: recoveryPoint }, target: { newVMName: newVm }, startVM: false },
  };
}
