// Test fixtures for the API: builders of valid objects of each kind, and the table of bad objects that the
// unit tests (ajv) and the integration tests (the real apiserver) both must reject, naming the field.
import { API_VERSION, type KindName } from './constants.ts';

/** A Tresor object as a plain value. */
export type TresorObject = { apiVersion: string; kind: KindName; metadata: { name: string }; spec: Record<string, unknown>; status?: Record<string, unknown> };

const meta = (name: string): { name: string } => ({ name });

/** A valid S3 BackupVault. */
export function vault(name = 'vault'): TresorObject {
  return {
    apiVersion: API_VERSION,
    kind: 'BackupVault',
    metadata: meta(name),
    spec: {
      s3: { endpoint: 'http://127.0.0.1:9000', bucket: 'backups', credentialsSecretRef: { name: 's3-creds' } },
      encryption: { keySecretRef: { name: 'vault-key' } },
      immutability: { retentionLockDays: 7 },
    },
  };
}

/** A valid BackupPolicy. */
export function policy(name = 'policy'): TresorObject {
  return {
    apiVersion: API_VERSION,
    kind: 'BackupPolicy',
    metadata: meta(name),
    spec: {
      schedule: '0 2 * * *',
      vmSelector: { matchLabels: { backup: 'yes' } },
      vaultRef: { name: 'vault' },
      retention: { daily: 7 },
      hooks: { pre: { command: ['/bin/sync'] } },
    },
  };
}

/** A valid on-demand VirtualMachineBackup. */
export function backup(name = 'backup'): TresorObject {
  return { apiVersion: API_VERSION, kind: 'VirtualMachineBackup', metadata: meta(name), spec: { vmName: 'vm-1', vaultRef: { name: 'vault' } } };
}

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** A valid RecoveryPoint with two disks. */
export function recoveryPoint(name = 'point'): TresorObject {
  const disk = (n: string): Record<string, unknown> => ({ name: n, vaultDiskId: `ns.vm-1.${n}`, manifestId: `20261127T010000000Z-${n}`, type: 'Full', sizeBytes: 1048576, digest: DIGEST });
  return {
    apiVersion: API_VERSION,
    kind: 'RecoveryPoint',
    metadata: meta(name),
    spec: {
      vmName: 'vm-1',
      capturedAt: '2026-11-27T01:00:00Z',
      consistency: 'CrashConsistent',
      backupType: 'Full',
      sizeBytes: 2097152,
      vaultRef: { name: 'vault' },
      sourceBackup: 'backup',
      disks: [disk('root'), disk('data')],
    },
  };
}

/** A valid VirtualMachineRestore to a new VM. */
export function restore(name = 'restore'): TresorObject {
  return {
    apiVersion: API_VERSION,
    kind: 'VirtualMachineRestore',
    metadata: meta(name),
    spec: { recoveryPointRef: { name: 'point' }, target: { newVMName: 'vm-1-restored' } },
  };
}

/** How a bad case reaches the apiserver: created as is, an update of a valid object, or a status write. */
export type BadCaseOperation = 'create' | 'update' | 'status';

/** An object (or change) that must be rejected, and the field path the rejection must name. */
export interface BadCase {
  readonly name: string;
  readonly operation: BadCaseOperation;
  /** For `create`: the object; for `update` and `status`: the valid object created first. */
  readonly object: TresorObject;
  /** For `update` and `status`: the object after the change (its status for `status`). */
  readonly changed?: TresorObject;
  /** The field path the error must name, as the apiserver prints it (`spec.retention.daily`). */
  readonly path: string;
  /** Further text the message must contain (the rule's message), if any. */
  readonly mentions?: readonly string[];
}

type Edit = (o: TresorObject) => void;

function edited(base: TresorObject, edit: Edit): TresorObject {
  const copy = structuredClone(base);
  edit(copy);
  return copy;
}

const spec = (o: TresorObject): Record<string, any> => o.spec; // eslint-disable-line @typescript-eslint/no-explicit-any

interface CaseMakers {
  create(name: string, path: string, edit: Edit, mentions?: string[]): BadCase;
  update(name: string, path: string, edit: Edit, mentions?: string[]): BadCase;
}

/** Case constructors bound to one valid `base` object that each case edits a copy of. */
function makers(base: TresorObject): CaseMakers {
  const extra = (mentions?: string[]): { mentions?: string[] } => (mentions ? { mentions } : {});
  return {
    create: (name, path, edit, mentions) => ({ name, operation: 'create', object: edited(base, edit), path, ...extra(mentions) }),
    update: (name, path, edit, mentions) => ({ name, operation: 'update', object: base, changed: edited(base, edit), path, ...extra(mentions) }),
  };
}

function vaultCases(): BadCase[] {
  const v = vault();
  const { create, update } = makers(v);
  return [
    create('vault with two backends', 'spec', (o) => (spec(o).filesystem = { path: '/var/backups' }), ['exactly one of spec.s3 or spec.filesystem']),
    create('vault without a backend', 'spec', (o) => delete spec(o).s3, ['exactly one of spec.s3 or spec.filesystem']),
    create('filesystem vault with both a PVC and a path', 'spec.filesystem', (o) => {
      delete spec(o).s3;
      spec(o).filesystem = { path: '/var/backups', persistentVolumeClaim: { claimName: 'nfs' } };
    }, ['exactly one of filesystem.persistentVolumeClaim or filesystem.path']),
    create('filesystem vault with a relative path', 'spec.filesystem.path', (o) => {
      delete spec(o).s3;
      spec(o).filesystem = { path: 'backups' };
    }),
    create('filesystem vault path climbing out with ..', 'spec.filesystem.path', (o) => {
      delete spec(o).s3;
      spec(o).filesystem = { path: '/srv/tresor/../../etc' };
    }, ['must not contain "." or ".." segments']),
    create('filesystem vault path with a trailing slash', 'spec.filesystem.path', (o) => {
      delete spec(o).s3;
      spec(o).filesystem = { path: '/srv/tresor/' };
    }),
    create('PVC vault subPath climbing out with ..', 'spec.filesystem.persistentVolumeClaim.subPath', (o) => {
      delete spec(o).s3;
      spec(o).filesystem = { persistentVolumeClaim: { claimName: 'nfs', subPath: 'a/../../b' } };
    }, ['must not contain "." or ".." segments']),
    create('bucket name with capitals', 'spec.s3.bucket', (o) => (spec(o).s3.bucket = 'My_Backups')),
    create('endpoint without a scheme', 'spec.s3.endpoint', (o) => (spec(o).s3.endpoint = 's3.example.com')),
    create('S3 vault without credentials', 'spec.s3.credentialsSecretRef', (o) => delete spec(o).s3.credentialsSecretRef),
    create('vault without encryption', 'spec.encryption', (o) => delete spec(o).encryption),
    create('negative retention lock', 'spec.immutability.retentionLockDays', (o) => (spec(o).immutability.retentionLockDays = -1)),
    create('misspelled field', 'spec.s3.bucketName', (o) => (spec(o).s3.bucketName = 'backups')),
    update('vault key changed after creation', 'spec.encryption', (o) => (spec(o).encryption.keySecretRef.name = 'other-key'), ['encryption is immutable']),
    update('retention lock lowered', 'spec.immutability.retentionLockDays', (o) => (spec(o).immutability.retentionLockDays = 1), ['can only be raised']),
    update('backend switched from s3 to filesystem', 'spec', (o) => {
      delete spec(o).s3;
      spec(o).filesystem = { path: '/var/backups' };
    }, ['backend kind (s3 or filesystem) is immutable']),
  ];
}

function policyCases(): BadCase[] {
  const p = policy();
  const { create } = makers(p);
  return [
    create('cron with four fields', 'spec.schedule', (o) => (spec(o).schedule = '0 2 * *'), ['cron expression']),
    create('cron in words', 'spec.schedule', (o) => (spec(o).schedule = 'every night'), ['cron expression']),
    create('unknown cron macro', 'spec.schedule', (o) => (spec(o).schedule = '@fortnightly'), ['cron expression']),
    create('time zone that is no IANA name', 'spec.timeZone', (o) => (spec(o).timeZone = 'Central European Time')),
    create('time zone the regex liked but Intl rejects', 'spec.timeZone', (o) => (spec(o).timeZone = 'Mars/Olympus_Mons'), ['canonical IANA time zone']),
    create('every minute without the opt-in', 'spec', (o) => (spec(o).schedule = '* * * * *'), ['allowFrequentSchedule']),
    create('every 15 minutes without the opt-in', 'spec', (o) => (spec(o).schedule = '*/15 * * * *'), ['more than once an hour']),
    create('bandwidth limit of one byte a second', 'spec.transfer.bandwidthLimit', (o) => (spec(o).transfer = { bandwidthLimit: '1' }), ['at least 1M']),
    create('negative daily retention', 'spec.retention.daily', (o) => (spec(o).retention.daily = -1)),
    create('retention that keeps nothing', 'spec.retention', (o) => (spec(o).retention = { daily: 0 }), ['retention must keep something']),
    create('unknown consistency level', 'spec.consistency', (o) => (spec(o).consistency = 'Paranoid')),
    create('freeze timeout too long', 'spec.freezeTimeout', (o) => (spec(o).freezeTimeout = '1h'), ['between 1s and 10m']),
    create('freeze timeout that is no duration', 'spec.freezeTimeout', (o) => (spec(o).freezeTimeout = 'soon')),
    create('instant-restore snapshot kept too long', 'spec.instantRestore.keepFor', (o) => (spec(o).instantRestore = { keepFor: '2000h' })),
    create('zero parallel disks', 'spec.transfer.maxParallelDisks', (o) => (spec(o).transfer = { maxParallelDisks: 0 })),
    create('bandwidth limit with units in words', 'spec.transfer.bandwidthLimit', (o) => (spec(o).transfer = { bandwidthLimit: '10 MB/s' })),
    create('hook without a command', 'spec.hooks.pre.command', (o) => (spec(o).hooks.pre.command = [])),
    create('hook with an unknown error policy', 'spec.hooks.pre.onError', (o) => (spec(o).hooks.pre.onError = 'Retry')),
    create('hook timeout of zero', 'spec.hooks.pre.timeout', (o) => (spec(o).hooks.pre.timeout = '0s'), ['between 1s and 1h']),
    create('In selector without values', 'spec.vmSelector.matchExpressions[0].values', (o) => {
      spec(o).vmSelector.matchExpressions = [{ key: 'tier', operator: 'In' }];
    }),
    create('policy without a vault', 'spec.vaultRef', (o) => delete spec(o).vaultRef),
    create('vault reference that is no object name', 'spec.vaultRef.name', (o) => (spec(o).vaultRef.name = 'Offsite_Vault')),
    create('suspend as a string', 'spec.suspend', (o) => (spec(o).suspend = 'yes')),
  ];
}

function backupCases(): BadCase[] {
  const b = backup();
  const { create, update } = makers(b);
  const withStatus = edited(b, (o) => {
    o.status = { disks: [{ name: 'root', requestedType: 'Incremental', type: 'Full' }] };
  });
  return [
    create('backup with both a policy and a vault', 'spec', (o) => (spec(o).policyRef = { name: 'policy' }), ['exactly one of spec.policyRef or spec.vaultRef']),
    create('backup with neither policy nor vault', 'spec', (o) => delete spec(o).vaultRef, ['exactly one of spec.policyRef or spec.vaultRef']),
    create('VM name with an underscore', 'spec.vmName', (o) => (spec(o).vmName = 'web_1')),
    create('retainUntil that is no timestamp', 'spec.retainUntil', (o) => (spec(o).retainUntil = 'next tuesday')),
    update('backup pointed at another VM after creation', 'spec', (o) => (spec(o).vmName = 'vm-2'), ['spec is immutable']),
    {
      name: 'disk fell back to full without saying why',
      operation: 'status',
      object: b,
      changed: withStatus,
      path: 'status.disks[0].fallbackReason',
      mentions: ['must say why in fallbackReason'],
    },
    {
      name: 'consistency recorded without a known reason',
      operation: 'status',
      object: b,
      changed: edited(b, (o) => (o.status = { consistency: { level: 'CrashConsistent', reason: 'BadLuck' } })),
      path: 'status.consistency.reason',
    },
  ];
}

function pointCases(): BadCase[] {
  const rp = recoveryPoint();
  const { create, update } = makers(rp);
  return [
    update('recovery point spec edited after creation', 'spec', (o) => (spec(o).consistency = 'ApplicationConsistent'), ['spec is immutable']),
    create('digest that is no digest', 'spec.disks[0].digest', (o) => (spec(o).disks[0].digest = 'md5')),
    create('recovery point without disks', 'spec.disks', (o) => (spec(o).disks = []), ['at least one disk']),
    create('negative size', 'spec.sizeBytes', (o) => (spec(o).sizeBytes = -5)),
    create('vault disk id with a slash', 'spec.disks[0].vaultDiskId', (o) => (spec(o).disks[0].vaultDiskId = 'ns/vm-1/root')),
    create('the same disk twice', 'spec.disks[1]', (o) => (spec(o).disks[1].name = 'root')),
    create('unknown consistency on a recovery point', 'spec.consistency', (o) => (spec(o).consistency = 'Mostly')),
  ];
}

function restoreCases(): BadCase[] {
  const r = restore();
  const { create, update } = makers(r);
  return [
    create('restore to a new VM and in place at once', 'spec.target', (o) => (spec(o).target.inPlace = true), ['exactly one of target.newVMName']),
    create('restore without a target', 'spec.target', (o) => (spec(o).target = {}), ['exactly one of target.newVMName']),
    create('empty disk selection', 'spec.disks', (o) => (spec(o).disks = [])),
    create('the same disk selected twice', 'spec.disks[1]', (o) => (spec(o).disks = ['root', 'root'])),
    create('restore without a recovery point', 'spec.recoveryPointRef', (o) => delete spec(o).recoveryPointRef),
    update('restore retargeted after creation', 'spec', (o) => (spec(o).target = { newVMName: 'other' }), ['spec is immutable']),
  ];
}

/** Every bad case, each a distinct way to get an object wrong. */
export function badCases(): BadCase[] {
  return [...vaultCases(), ...policyCases(), ...backupCases(), ...pointCases(), ...restoreCases()];
}

/** Whether `text` names the field `path` as a whole token (so `spec.disks` does not match `spec.disks[1]`). */
export function namesField(text: string, path: string): boolean {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[\\s"'[])${escaped}($|[\\s"':,])`, 'm').test(text);
}
