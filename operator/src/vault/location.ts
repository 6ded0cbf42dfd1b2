// Parses a vault URL (file:///path or s3://bucket/prefix?endpoint=...) into an ObjectStore.
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsStore } from './fs-store.ts';
import type { ObjectStore } from './store.ts';

const USAGE = 'use file:///absolute/path or s3://bucket/prefix?endpoint=http://host:port&region=us-east-1';
/** Characters a prefix segment may hold: S3's "safe characters" (the BackupVault schema allows only these). */
const SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;

/**
 * The one reading of an S3 key prefix that the operator and every pod share: no leading slash, '' or ending
 * in '/'. Throws on '.' or '..' segments, empty segments ('//') and characters outside S3's safe set.
 */
export function s3Prefix(raw: string): string {
  const trimmed = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  for (const seg of trimmed.split('/')) {
    if (seg === '' || seg === '.' || seg === '..' || !SEGMENT.test(seg)) {
      throw new Error(`bad S3 prefix '${raw}': use segments of letters, digits and !_.*'()- separated by single '/', without '.' or '..' segments`);
    }
  }
  return `${trimmed}/`;
}

/** The `--vault` URL of an S3 location; each prefix segment is percent-encoded, so storeFromUrl reads back exactly s3Prefix(prefix). */
export function s3VaultUrl(loc: { readonly bucket: string; readonly prefix?: string; readonly endpoint?: string; readonly region?: string }): string {
  const q = new URLSearchParams();
  if (loc.endpoint) q.set('endpoint', loc.endpoint);
  if (loc.region) q.set('region', loc.region);
  const path = s3Prefix(loc.prefix ?? '').replace(/\/$/, '').split('/').map(encodeURIComponent).join('/');
  const query = q.toString();
  return `s3://${loc.bucket}/${path}${query ? `?${query}` : ''}`;
}

function decodedPrefix(url: URL, raw: string): string {
  let path: string;
  try {
    path = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  } catch {
    throw new Error(`bad vault URL '${raw}': the prefix is not valid percent-encoding; ${USAGE}`);
  }
  try {
    return s3Prefix(path);
  } catch (err) {
    throw new Error(`bad vault URL '${raw}': ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Opens the backend a vault URL names; throws an error that says what a good URL looks like. The S3 SDK is
 * loaded only for s3:// URLs: it costs ~33 MiB of RSS that a filesystem vault does not need.
 */
export async function storeFromUrl(raw: string): Promise<ObjectStore> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`bad vault URL '${raw}': ${USAGE}`);
  }
  if (url.protocol === 'file:') {
    const path = fileURLToPath(url);
    if (!isAbsolute(path)) throw new Error(`bad vault URL '${raw}': the path must be absolute; ${USAGE}`);
    return new FsStore(path.replace(/\/+$/, '') || '/');
  }
  if (url.protocol === 's3:') {
    if (!url.hostname) throw new Error(`bad vault URL '${raw}': no bucket; ${USAGE}`);
    const endpoint = url.searchParams.get('endpoint') ?? process.env.TRESOR_S3_ENDPOINT ?? undefined;
    const region = url.searchParams.get('region') ?? undefined;
    const { S3Store } = await import('./s3-store.ts');
    return new S3Store({
      bucket: url.hostname,
      prefix: decodedPrefix(url, raw),
      ...(endpoint ? { endpoint } : {}),
      ...(region ? { region } : {}),
    });
  }
  throw new Error(`bad vault URL '${raw}': unsupported scheme '${url.protocol}'; ${USAGE}`);
}
