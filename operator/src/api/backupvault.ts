// BackupVault: where recovery points' data lives (S3-compatible object storage or a filesystem), the key
// that encrypts it, and how long stored data is locked against deletion.
import { Type, type Static } from '@sinclair/typebox';
import { Kinds, Reasons } from './constants.ts';
import { AGE_COLUMN, conditionColumn, type KindDefinition } from './kind.ts';
import { bool, Conditions, immutable, int, localRef, name, obj, rule, str, time } from './schema.ts';

const S3 = obj('An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, versitygw, ...).', {
  endpoint: Type.Optional(
    str('URL of the S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com; empty means AWS S3 for the region.', {
      maxLength: 2048,
      pattern: '^https?://[^\\s/$.?#][^\\s]*$',
    }),
  ),
  bucket: str('Name of the bucket; it must exist.', { minLength: 3, maxLength: 63, pattern: '^[a-z0-9][a-z0-9.-]*[a-z0-9]$' }),
  prefix: Type.Optional(
    str('Key prefix under which the vault keeps all its objects, so several vaults can share a bucket: segments of letters, digits ' +
      'and !_.*\'()- separated by single slashes, no leading slash, no "." or ".." segment.', {
      maxLength: 512,
      pattern: "^([A-Za-z0-9!_.*'()-]+/)*[A-Za-z0-9!_.*'()-]*$",
      'x-kubernetes-validations': [rule<string>(
        { rule: "!self.split('/').exists(s, s == '.' || s == '..')", message: 's3.prefix must not contain "." or ".." segments' },
        (p) => !p.split('/').some((x) => x === '.' || x === '..'),
      )],
      default: '',
    }),
  ),
  region: Type.Optional(str('Region of the bucket, used for request signing.', { minLength: 1, maxLength: 64, default: 'us-east-1' })),
  credentialsSecretRef: localRef(
    'Secret',
    'Secret in the vault\'s namespace with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (optionally AWS_SESSION_TOKEN).',
  ),
  forcePathStyle: Type.Optional(
    bool('Address the bucket as endpoint/bucket instead of bucket.endpoint; most self-hosted servers need true.', { default: false }),
  ),
});

/** No `.` or `..` segment, so a path means what its prefix says (ADR 0090). */
const noDotSegments = (what: string): ReturnType<typeof rule> => rule<string>(
  { rule: "!self.split('/').exists(s, s == '.' || s == '..')", message: `${what} must not contain "." or ".." segments` },
  (s) => !s.split('/').some((x) => x === '.' || x === '..'),
);

const Filesystem = obj(
  'A directory: on a PersistentVolumeClaim mounted into the transfer pods, or a host path. Only where a cluster admin granted it to ' +
    'this namespace (the operator\'s allow-list, chart value vaults.filesystem.allow); otherwise use s3.',
  {
    persistentVolumeClaim: Type.Optional(
      obj('A PersistentVolumeClaim (ReadWriteMany when transfers run on several nodes) that holds the vault.', {
        claimName: name('Name of the PersistentVolumeClaim in the vault\'s namespace.'),
        subPath: Type.Optional(str('Directory inside the volume that holds the vault; empty means its root.', {
          maxLength: 1024, default: '', 'x-kubernetes-validations': [noDotSegments('filesystem.persistentVolumeClaim.subPath')],
        })),
      }),
    ),
    path: Type.Optional(
      str('Absolute path of an existing vault directory on every node, under a directory a cluster admin granted to this namespace; ' +
        'it is mounted at /var/lib/tresor/vault in the operator\'s pods and never created.', {
        minLength: 2,
        maxLength: 1024,
        pattern: '^(/[^/]+)+$',
        'x-kubernetes-validations': [noDotSegments('filesystem.path')],
      }),
    ),
  },
  {
    'x-kubernetes-validations': [
      rule<Record<string, unknown>>(
        {
          rule: 'has(self.persistentVolumeClaim) != has(self.path)',
          message: 'exactly one of filesystem.persistentVolumeClaim or filesystem.path must be set',
        },
        (s) => ('persistentVolumeClaim' in s) !== ('path' in s),
      ),
    ],
  },
);

const Encryption = obj(
  'How the vault\'s data is encrypted (AES-256-GCM under data keys that the master key in the Secret wraps). Immutable: which Secret ' +
    'holds the key cannot change; rotate keys with tresor vault rotate-key and update the Secret\'s value.',
  {
    keySecretRef: obj('The Secret holding the vault key.', {
      name: name('Name of the Secret in the vault\'s namespace.'),
      key: Type.Optional(
        str('Key within the Secret whose value is the vault\'s master key: 64 hex digits (32 random bytes, e.g. from openssl rand -hex 32). ' +
          'The value may change to a new master key added with tresor vault rotate-key --new-key-file.', {
          minLength: 1,
          maxLength: 253,
          default: 'key',
        }),
      ),
    }),
  },
  { 'x-kubernetes-validations': [immutable('encryption')] },
);

const Immutability = obj('Write-once protection of stored data (like a vault\'s soft-delete and immutability lock).', {
  retentionLockDays: int(
    'Days during which no recovery point in the vault can be deleted, not even by its retention; 0 disables the lock. Can only be raised.',
    { minimum: 0, maximum: 36500, default: 0, 'x-kubernetes-validations': [rule({ rule: 'self >= oldSelf', message: 'retentionLockDays can only be raised' })] },
  ),
});

/** BackupVault `.spec`. */
export const BackupVaultSpec = obj(
  'Where the vault keeps its data and how it protects it. Exactly one of s3 or filesystem.',
  {
    s3: Type.Optional(S3),
    filesystem: Type.Optional(Filesystem),
    encryption: Encryption,
    immutability: Type.Optional(Immutability),
  },
  {
    'x-kubernetes-validations': [
      rule<Record<string, unknown>>(
        { rule: 'has(self.s3) != has(self.filesystem)', message: 'exactly one of spec.s3 or spec.filesystem must be set' },
        (s) => ('s3' in s) !== ('filesystem' in s),
      ),
      rule({
        rule: 'has(self.s3) == has(oldSelf.s3)',
        message: 'the backend kind (s3 or filesystem) is immutable; create a new vault instead',
      }),
    ],
  },
);
/** BackupVault `.spec`. */
export type BackupVaultSpec = Static<typeof BackupVaultSpec>;

/** BackupVault `.status`. */
export const BackupVaultStatus = obj('What the operator last observed about the vault.', {
  conditions: Type.Optional(Conditions),
  backend: Type.Optional(str('The backend in use, as a URL without credentials (s3://bucket/prefix or file:///path).', { maxLength: 4096 })),
  repositoryId: Type.Optional(str('Identifier written into the vault when it was initialized.', { maxLength: 128 })),
  formatVersion: Type.Optional(int('Version of the on-disk vault format.', { minimum: 0 })),
  lastCheckedTime: Type.Optional(time('When the operator last reached the vault.')),
  storedBytes: Type.Optional(int('Bytes the vault\'s objects take after deduplication, compression and encryption.', { minimum: 0 })),
  recoveryPoints: Type.Optional(int('Number of recovery points stored in the vault.', { minimum: 0 })),
});
/** BackupVault `.status`. */
export type BackupVaultStatus = Static<typeof BackupVaultStatus>;

/** The BackupVault kind. */
export const BackupVault: KindDefinition = {
  kind: Kinds.BackupVault,
  plural: 'backupvaults',
  singular: 'backupvault',
  shortNames: ['tbv', 'tvault'],
  description:
    'BackupVault is where Tresor stores backup data: S3-compatible object storage or a filesystem, ' +
    'encrypted with a key from a Secret, optionally locked against deletion. Summary condition: Ready ' +
    `(reasons ${Reasons.VaultReady}, ${Reasons.VaultUnreachable}, ${Reasons.VaultUninitialized}, ${Reasons.BucketNotFound}, ` +
    `${Reasons.CredentialsMissing}, ${Reasons.CredentialsRejected}, ${Reasons.KeySecretMissing}, ${Reasons.KeyInvalid}, ${Reasons.WrongKey}, ` +
    `${Reasons.VaultUnsupported}, ${Reasons.VaultConfigNotAuthentic}, ${Reasons.NotVerified}).`,
  spec: BackupVaultSpec,
  status: BackupVaultStatus,
  printerColumns: [
    { name: 'Backend', type: 'string', jsonPath: '.status.backend', description: 'The backend as a URL.' },
    { name: 'Lock Days', type: 'integer', jsonPath: '.spec.immutability.retentionLockDays', description: 'Retention lock in days.', priority: 1 },
    { name: 'Points', type: 'integer', jsonPath: '.status.recoveryPoints', description: 'Recovery points stored.' },
    { name: 'Stored', type: 'integer', jsonPath: '.status.storedBytes', description: 'Bytes stored.', priority: 1 },
    conditionColumn('Ready', 'Ready', 'status'),
    conditionColumn('Reason', 'Ready', 'reason'),
    AGE_COLUMN,
  ],
};
