// Parses a vault URL (file:///path or s3://bucket/prefix?endpoint=...) into an ObjectStore.
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsStore } from './fs-store.ts';
import type { ObjectStore } from './store.ts';

const USAGE = 'use file:///absolute/path or s3://bucket/prefix?endpoint=http://host:port&region=us-east-1';

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
      prefix: decodeURIComponent(url.pathname.replace(/^\/+/, '')),
      ...(endpoint ? { endpoint } : {}),
      ...(region ? { region } : {}),
    });
  }
  throw new Error(`bad vault URL '${raw}': unsupported scheme '${url.protocol}'; ${USAGE}`);
}
