// How a pod reaches a BackupVault: the `--vault` URL the data mover understands, the key Secret mounted
// as a file, and the S3 credentials as environment variables straight from their Secret (the operator
// never copies secret values into pod specs). A filesystem vault is mounted only when the operator's
// allow-list grants it to the vault's namespace (ADR 0090), always at one fixed mount point, and a host
// path only as an existing directory (hostPath type Directory: a pod never creates host directories).
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { Reasons } from '../../api/constants.ts';
import type { BackupVaultObject } from '../../api/types.ts';
import { s3VaultUrl } from '../../vault/location.ts';
import { TerminalError } from '../../runtime/errors.ts';
import { filesystemVaultRefusal, type FilesystemVaultAllowList } from '../../vaults/trust.ts';

/** Where the key file appears inside transfer and restore pods. */
export const KEY_FILE = '/etc/tresor/key/vault.key';
const KEY_DIR = '/etc/tresor/key';
/** Where a filesystem vault (host path or PVC) appears inside pods, whatever its path on the host. */
export const FS_VAULT_MOUNT = '/var/lib/tresor/vault';

/** The parts of a pod spec that give it access to one vault. */
export interface VaultAccess {
  readonly url: string;
  readonly env: V1EnvVar[];
  readonly volumes: V1Volume[];
  readonly mounts: V1VolumeMount[];
}

function secretEnv(name: string, secret: string, optional = false): V1EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key: name, ...(optional ? { optional: true } : {}) } } };
}

function s3Access(s3: NonNullable<BackupVaultObject['spec']['s3']>): Pick<VaultAccess, 'url' | 'env'> {
  const secret = s3.credentialsSecretRef.name;
  return {
    // Encoded by the same module that parses it in the pods, so both sides use one prefix (review L2/R11).
    url: s3VaultUrl(s3),
    env: [
      secretEnv('AWS_ACCESS_KEY_ID', secret),
      secretEnv('AWS_SECRET_ACCESS_KEY', secret),
      secretEnv('AWS_SESSION_TOKEN', secret, true),
      ...(s3.region ? [{ name: 'AWS_REGION', value: s3.region }] : []),
    ],
  };
}

/** The `--vault` URL pods open `vault` by (no access check: the URL alone grants nothing). */
export function vaultUrl(vault: BackupVaultObject): string {
  const spec = vault.spec;
  if (spec.s3) return s3Access(spec.s3).url;
  const sub = (spec.filesystem?.persistentVolumeClaim?.subPath ?? '').replace(/^\/+|\/+$/g, '');
  return `file://${FS_VAULT_MOUNT}${sub ? `/${sub}` : ''}`;
}

/**
 * The URL, environment, volumes and mounts that let a pod open `vault` with its key; a filesystem
 * vault the allow-list does not grant to the vault's namespace is a terminal error (reason VaultNotAllowed).
 */
export function vaultAccess(vault: BackupVaultObject, allow: FilesystemVaultAllowList): VaultAccess {
  const refusal = filesystemVaultRefusal(vault, allow);
  if (refusal) throw new TerminalError(`BackupVault ${vault.metadata.namespace}/${vault.metadata.name}: ${refusal}`, { reason: Reasons.VaultNotAllowed });
  const spec = vault.spec;
  const keyRef = spec.encryption.keySecretRef;
  const keyVolume: V1Volume = { name: 'vault-key', secret: { secretName: keyRef.name, items: [{ key: keyRef.key ?? 'key', path: 'vault.key' }], defaultMode: 0o400 } };
  const keyMount: V1VolumeMount = { name: 'vault-key', mountPath: KEY_DIR, readOnly: true };
  if (spec.s3) return { ...s3Access(spec.s3), volumes: [keyVolume], mounts: [keyMount] };
  const fs = spec.filesystem;
  if (fs?.path) {
    return {
      url: vaultUrl(vault),
      env: [],
      volumes: [keyVolume, { name: 'vault-data', hostPath: { path: fs.path, type: 'Directory' } }],
      mounts: [keyMount, { name: 'vault-data', mountPath: FS_VAULT_MOUNT }],
    };
  }
  if (fs?.persistentVolumeClaim) {
    return {
      url: vaultUrl(vault),
      env: [],
      volumes: [keyVolume, { name: 'vault-data', persistentVolumeClaim: { claimName: fs.persistentVolumeClaim.claimName } }],
      mounts: [keyMount, { name: 'vault-data', mountPath: FS_VAULT_MOUNT }],
    };
  }
  throw new Error(`BackupVault ${vault.metadata.name} has neither spec.s3 nor spec.filesystem`);
}
