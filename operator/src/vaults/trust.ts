// Which filesystem vaults a namespace may use (ADR 0090). A filesystem vault becomes a hostPath or PVC
// volume in pods the operator creates, so a namespaced BackupVault may name one only when a cluster admin
// granted it in the operator's configuration: `TRESOR_FILESYSTEM_VAULTS`, entries `<namespace>:<dir>`
// (a host directory the namespace may use, or any directory below it) or `<namespace>:pvc` (the
// namespace may keep a vault on its own PVCs). The same list is rendered into the chart's admission
// policy, so a refused vault is refused at `kubectl apply`; the operator checks again before every pod.
import type { BackupVaultObject } from '../api/types.ts';

/** One grant of the allow-list. */
export interface FilesystemVaultGrant {
  /** The namespace the grant is for; `*` is every namespace (single-tenant clusters only). */
  readonly namespace: string;
  /** A host directory the namespace's vaults may use (or any directory below it); undefined with `pvc`. */
  readonly path?: string;
  /** True: the namespace may keep vaults on its own PersistentVolumeClaims. */
  readonly pvc?: boolean;
}

/** The allow-list of filesystem vaults; empty means namespaced vaults are object storage only. */
export type FilesystemVaultAllowList = readonly FilesystemVaultGrant[];

const NS = /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

/** True when `path` is absolute, normalised and has no `.`/`..` segment (so prefix checks mean what they say). */
export function isCleanAbsolutePath(path: string): boolean {
  if (!path.startsWith('/') || path.length < 2 || path.endsWith('/')) return false;
  return path.slice(1).split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Parses `TRESOR_FILESYSTEM_VAULTS` (`ns:/dir,ns:pvc`), failing with a message that names the bad entry. */
export function parseFilesystemVaults(raw: string | undefined): FilesystemVaultAllowList {
  if (!raw?.trim()) return Object.freeze([]);
  const out: FilesystemVaultGrant[] = [];
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const i = entry.indexOf(':');
    const namespace = i < 0 ? '' : entry.slice(0, i);
    const what = i < 0 ? '' : entry.slice(i + 1);
    if (!NS.test(namespace)) throw new Error(`TRESOR_FILESYSTEM_VAULTS entry "${entry}": expected <namespace>:<absolute dir> or <namespace>:pvc`);
    if (what === 'pvc') out.push(Object.freeze({ namespace, pvc: true }));
    else if (isCleanAbsolutePath(what)) out.push(Object.freeze({ namespace, path: what }));
    else throw new Error(`TRESOR_FILESYSTEM_VAULTS entry "${entry}": "${what}" is neither "pvc" nor an absolute directory without "." or ".." segments or a trailing slash`);
  }
  return Object.freeze(out);
}

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/**
 * Why `vault` may not be used, or undefined when it may: an object-storage vault always may; a
 * filesystem vault only with a grant for its namespace (and, for a host path, a clean path under a granted directory).
 */
export function filesystemVaultRefusal(vault: BackupVaultObject, allow: FilesystemVaultAllowList): string | undefined {
  const fs = vault.spec.filesystem;
  if (!fs) return undefined;
  const ns = vault.metadata.namespace ?? '';
  const mine = allow.filter((g) => g.namespace === ns || g.namespace === '*');
  if (fs.path !== undefined) {
    if (!isCleanAbsolutePath(fs.path)) return `spec.filesystem.path "${fs.path}" must be an absolute directory without "." or ".." segments or a trailing slash`;
    if (mine.some((g) => g.path !== undefined && under(fs.path!, g.path))) return undefined;
    return `host-path vaults in namespace ${ns} are not allowed at ${fs.path}: a cluster admin must grant a directory to this namespace (chart value vaults.filesystem.allow, TRESOR_FILESYSTEM_VAULTS); use an S3 vault otherwise`;
  }
  if (mine.some((g) => g.pvc)) return undefined;
  return `PVC vaults in namespace ${ns} are not allowed: a cluster admin must grant them to this namespace (chart value vaults.filesystem.allow, TRESOR_FILESYSTEM_VAULTS); use an S3 vault otherwise`;
}

/** Parses `TRESOR_S3_ENDPOINTS` (comma-separated URL origins such as https://s3.eu-west-1.amazonaws.com); empty allows any. */
export function parseS3Endpoints(raw: string | undefined): readonly string[] {
  const out: string[] = [];
  for (const e of (raw ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    let origin: string;
    try {
      origin = new URL(e).origin;
    } catch {
      throw new Error(`TRESOR_S3_ENDPOINTS entry "${e}" is not a URL such as https://s3.example.com`);
    }
    if (origin === 'null' || !/^https?:$/.test(new URL(e).protocol)) throw new Error(`TRESOR_S3_ENDPOINTS entry "${e}" must be an http(s) URL`);
    out.push(origin);
  }
  return Object.freeze(out);
}

/** Why the operator may not call `endpoint`, or undefined: an empty allow-list allows any; else its origin must be listed. */
export function endpointRefusal(endpoint: string | undefined, allowed: readonly string[]): string | undefined {
  if (allowed.length === 0) return undefined;
  let origin = 'https://s3.amazonaws.com';
  try {
    if (endpoint) origin = new URL(endpoint).origin;
  } catch {
    return `spec.s3.endpoint "${endpoint}" is not a URL`;
  }
  if (allowed.includes(origin) || (!endpoint && allowed.some((a) => /^https:\/\/s3[.-]/.test(a) && a.endsWith('.amazonaws.com')))) return undefined;
  return `the operator may not call ${origin}: allowed S3 endpoints are ${allowed.join(', ')} (chart value vaults.s3.allowedEndpoints, TRESOR_S3_ENDPOINTS)`;
}
