// How the operator checks a BackupVault without starting a pod (ADR 0070): it reads the key Secret and,
// for an S3 vault, the credentials Secret itself, fetches the vault's plaintext config object and checks
// the key against its key check. Every failure becomes a Ready=False reason and a message that says what
// to fix. A filesystem vault lives on a volume only pods can mount: its key Secret is checked here, its
// data by a check pod (check-pod.ts) when one is configured, else by the first transfer pod (reason
// NotVerified, Ready=True so that policies still run).
import { Reasons } from '../api/constants.ts';
import type { BackupVaultObject } from '../api/types.ts';
import { parseConfig, unlockConfig, type VaultConfig, VaultConfigError } from '../vault/config.ts';
import { parseKeyBytes, weakKeyReason } from '../vault/keys.ts';
import { s3Prefix } from '../vault/location.ts';
import { endpointRefusal, filesystemVaultRefusal, type FilesystemVaultAllowList } from './trust.ts';

/** What one check found: the Ready condition's status, reason and message, and what status may record. */
export interface VaultCheck {
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
  /** The backend as a URL without credentials. */
  readonly backend: string;
  /** Set when the vault's config object was read (the operator reached the vault). */
  readonly reached: boolean;
  readonly repositoryId?: string;
  readonly formatVersion?: number;
}

/** Reads Secrets by name (core/v1 in production, a map in unit tests); undefined when absent. */
export interface SecretReader {
  read(namespace: string, name: string): Promise<Readonly<Record<string, Buffer>> | undefined>;
}

/** Where and as whom to read an S3 vault's config object. */
export interface S3Target {
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Key prefix with a trailing '/' (or empty). */
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
}

/** Why reading the config object failed, as the S3 reader classifies it. */
export type ReadFailure = 'NoSuchBucket' | 'NoSuchKey' | 'AccessDenied' | 'Unreachable' | 'Invalid';

/** Thrown by a ConfigReader with a classified failure and the server's words. */
export class ConfigReadError extends Error {
  readonly failure: ReadFailure;
  constructor(failure: ReadFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigReadError';
    this.failure = failure;
  }
}

/** Reads the vault's `config` object from S3; throws ConfigReadError. */
export type ConfigReader = (target: S3Target, signal?: AbortSignal) => Promise<Buffer>;

/** What checkVault needs. */
export interface ProbeDeps {
  readonly secrets: SecretReader;
  readonly readConfig: ConfigReader;
  /** Checks a filesystem vault's data (a check pod); without it such a vault is Ready/NotVerified. */
  readonly checkFilesystem?: (vault: BackupVaultObject, signal?: AbortSignal) => Promise<VaultCheck>;
  /** Filesystem vaults granted to namespaces (ADR 0090); absent or empty: none. */
  readonly filesystemVaults?: FilesystemVaultAllowList;
  /** S3 endpoint origins the operator may call; absent or empty: any. */
  readonly s3Endpoints?: readonly string[];
}

type Result = { ok: true; key: Buffer } | { ok: false; check: VaultCheck };

const fail = (reason: string, message: string, backend: string, reached = false): VaultCheck => ({ status: 'False', reason, message, backend, reached });

/** The backend URL status.backend shows: s3://bucket/prefix or file:///path (never credentials). */
export function backendUrl(vault: BackupVaultObject): string {
  const { s3, filesystem } = vault.spec;
  if (s3) return `s3://${s3.bucket}/${(s3.prefix ?? '').replace(/^\/+/, '')}`;
  if (filesystem?.path) return `file://${filesystem.path}`;
  const pvc = filesystem?.persistentVolumeClaim;
  return pvc ? `pvc://${pvc.claimName}/${(pvc.subPath ?? '').replace(/^\/+/, '')}` : '';
}

/** Parses a vault key as `tresor vault init` writes it: 64 hex digits, or exactly 32 raw bytes. */
export function parseVaultKey(raw: Buffer): Buffer | undefined {
  return parseKeyBytes(raw);
}

/** Reads and parses the vault key from the vault's key Secret; a failure is a Ready=False check. */
export async function readKey(vault: BackupVaultObject, secrets: SecretReader, backend: string): Promise<Result> {
  const ns = vault.metadata.namespace ?? '';
  const ref = vault.spec.encryption.keySecretRef;
  const field = ref.key ?? 'key';
  const data = await secrets.read(ns, ref.name);
  if (data === undefined) {
    return { ok: false, check: fail(Reasons.KeySecretMissing, `Secret ${ns}/${ref.name} (spec.encryption.keySecretRef) does not exist: create it with the vault key under '${field}'`, backend) };
  }
  const raw = data[field];
  // Neither the Secret's other key names nor the value's length reach status: whoever may create a vault
  // may not be allowed to read that Secret (review L4).
  if (raw === undefined) {
    return { ok: false, check: fail(Reasons.KeySecretMissing, `Secret ${ns}/${ref.name} has no key '${field}'; set spec.encryption.keySecretRef.key or add the key`, backend) };
  }
  const key = parseVaultKey(raw);
  if (key === undefined) {
    return { ok: false, check: fail(Reasons.KeyInvalid, `'${field}' in Secret ${ns}/${ref.name} must hold the vault key as 64 hex digits (or 32 raw bytes)`, backend) };
  }
  const weak = weakKeyReason(key);
  if (weak) return { ok: false, check: fail(Reasons.KeyInvalid, `'${field}' in Secret ${ns}/${ref.name} holds an unusable vault key: ${weak}; generate one with 'openssl rand -hex 32'`, backend) };
  return { ok: true, key };
}

/** The S3 bucket, prefix and credentials (from the vault's Secret) of an S3 vault; a failure is a check. */
export async function s3Target(vault: BackupVaultObject, secrets: SecretReader, backend: string): Promise<{ ok: true; target: S3Target } | { ok: false; check: VaultCheck }> {
  const s3 = vault.spec.s3!;
  const ns = vault.metadata.namespace ?? '';
  const name = s3.credentialsSecretRef.name;
  const data = await secrets.read(ns, name);
  const missing = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].filter((k) => !data?.[k]?.length);
  if (data === undefined || missing.length > 0) {
    const what = data === undefined ? 'does not exist' : `lacks ${missing.join(' and ')}`;
    return { ok: false, check: fail(Reasons.CredentialsMissing, `Secret ${ns}/${name} (spec.s3.credentialsSecretRef) ${what}: it needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`, backend) };
  }
  let prefix: string;
  try {
    prefix = s3Prefix(s3.prefix ?? '');
  } catch (err) {
    return { ok: false, check: fail(Reasons.VaultUnreachable, `spec.s3.prefix: ${(err as Error).message}`, backend) };
  }
  const token = data.AWS_SESSION_TOKEN?.toString('utf8');
  return {
    ok: true,
    target: {
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      region: s3.region ?? 'us-east-1',
      bucket: s3.bucket,
      prefix,
      forcePathStyle: s3.forcePathStyle ?? false,
      credentials: {
        accessKeyId: data.AWS_ACCESS_KEY_ID!.toString('utf8').trim(),
        secretAccessKey: data.AWS_SECRET_ACCESS_KEY!.toString('utf8').trim(),
        ...(token ? { sessionToken: token.trim() } : {}),
      },
    },
  };
}

function readFailure(err: unknown, target: S3Target, backend: string): VaultCheck {
  const detail = (err as Error).message;
  const where = target.endpoint ? ` at ${target.endpoint}` : '';
  if (!(err instanceof ConfigReadError)) return fail(Reasons.VaultUnreachable, `reading ${backend}${where}: ${detail}`, backend);
  switch (err.failure) {
    case 'NoSuchBucket':
      return fail(Reasons.BucketNotFound, `bucket ${target.bucket} does not exist${where}: create it, or fix spec.s3.bucket (${detail})`, backend);
    case 'Invalid':
      return fail(Reasons.VaultUninitialized, `${backend}config${where} is not a Tresor vault config (${detail}): point spec.s3.prefix at a vault made by 'tresor vault init'`, backend, true);
    case 'NoSuchKey':
      return fail(Reasons.VaultUninitialized, `no vault at ${backend}${where}: initialise it with 'tresor vault init' and the key in spec.encryption.keySecretRef, or fix spec.s3.bucket/prefix`, backend);
    case 'AccessDenied':
      return fail(Reasons.CredentialsRejected, `the S3 server${where} refused the credentials of spec.s3.credentialsSecretRef: ${detail}; fix AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the bucket policy`, backend);
    default:
      return fail(Reasons.VaultUnreachable, `cannot reach ${backend}${where}: ${detail}; check spec.s3.endpoint, the network and the server`, backend);
  }
}

/** Judges the config object with the key: the same authentication `Vault.open` does, as a Ready condition. */
function judgeConfig(raw: Buffer, key: Buffer, backend: string): VaultCheck {
  let config: VaultConfig;
  try {
    config = parseConfig(raw, backend);
  } catch (err) {
    if (!(err instanceof VaultConfigError)) throw err;
    if (err.problem === 'unsupported-version') {
      return { ...fail(Reasons.VaultUnsupported, err.message, backend, true), ...(err.foundVersion !== undefined ? { formatVersion: err.foundVersion } : {}) };
    }
    if (err.problem === 'tampered') return fail(Reasons.VaultConfigNotAuthentic, err.message, backend, true);
    return fail(Reasons.VaultUninitialized, `${err.message}: point spec.s3.prefix at a vault made by 'tresor vault init'`, backend, true);
  }
  const found = { repositoryId: config.vaultId, formatVersion: config.version };
  try {
    unlockConfig(config, key, backend);
  } catch (err) {
    if (!(err instanceof VaultConfigError)) throw err;
    if (err.problem === 'wrong-key') {
      return { ...fail(Reasons.WrongKey, `the key in spec.encryption.keySecretRef is not a master key of vault ${config.vaultId}: restore the original key, or add this one with 'tresor vault rotate-key --new-key-file' (data written under one key cannot be read with another)`, backend, true), ...found };
    }
    return { ...fail(Reasons.VaultConfigNotAuthentic, err.message, backend, true), ...found };
  }
  return { status: 'True', reason: Reasons.VaultReady, message: `vault ${config.vaultId} reached, its config authenticates and the key matches`, backend, reached: true, ...found };
}

/** Checks one vault: Secrets first (cheap, most common mistakes), then the config object and the key. */
export async function checkVault(v: BackupVaultObject, deps: ProbeDeps, signal?: AbortSignal): Promise<VaultCheck> {
  const backend = backendUrl(v);
  // Before any Secret is read or pod made: a vault this namespace may not use is never touched (ADR 0090).
  const refusal = filesystemVaultRefusal(v, deps.filesystemVaults ?? []);
  if (refusal) return fail(Reasons.VaultNotAllowed, refusal, backend);
  const key = await readKey(v, deps.secrets, backend);
  if (!key.ok) return key.check;
  if (!v.spec.s3) {
    if (deps.checkFilesystem) return deps.checkFilesystem(v, signal);
    return {
      status: 'True', reason: Reasons.NotVerified, backend, reached: false,
      message: 'the key Secret is valid; a filesystem vault is mounted only by transfer pods, so the operator cannot open it: the first backup opens it and fails with the reason if it is unusable',
    };
  }
  // Before the Secrets are read: credentials are never sent to an endpoint the admin did not allow.
  const denied = endpointRefusal(v.spec.s3.endpoint, deps.s3Endpoints ?? []);
  if (denied) return fail(Reasons.EndpointNotAllowed, denied, backend);
  const target = await s3Target(v, deps.secrets, backend);
  if (!target.ok) return target.check;
  let raw: Buffer;
  try {
    raw = await deps.readConfig(target.target, signal);
  } catch (err) {
    return readFailure(err, target.target, backend);
  }
  return judgeConfig(raw, key.key, backend);
}
