// Reads an S3 vault's `config` object with credentials the operator took from the vault's Secret (the
// data mover's S3Store reads AWS_* from its pod's environment instead, which the operator cannot share
// between vaults). One short-lived client per check; failures are classified for the Ready reason.
// The endpoint is the tenant's choice, so the read is bounded (review H2): connect and request timeouts,
// an overall deadline, a ranged GET of at most CONFIG_MAX_BYTES and a byte cap while streaming, and the
// error that reaches status is a classified code, never the server's own words.
import type { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ConfigReadError, type ReadFailure, type S3Target } from './probe.ts';

/** How long one check may take before the vault counts as unreachable. */
export const CHECK_TIMEOUT_MS = 20_000;
/** How long connecting to the endpoint may take. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** The largest `config` object the operator reads; a real one is a few hundred bytes. */
export const CONFIG_MAX_BYTES = 64 * 1024;

function classify(err: unknown): ReadFailure {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = e?.name ?? e?.Code ?? '';
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'NoSuchBucket') return 'NoSuchBucket';
  // Servers disagree on unknown keys: AWS says 403 InvalidAccessKeyId, versitygw 404 XAdminUserNotFound.
  if (status === 401 || status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|InvalidToken|ExpiredToken|UserNotFound/.test(name)) return 'AccessDenied';
  if (name === 'NoSuchKey' || (status === 404 && (name === 'NotFound' || name === ''))) return 'NoSuchKey';
  return 'Unreachable';
}

/**
 * What of a failed request may be shown in status: the HTTP status and the error code (an S3 code or a
 * Node errno, reduced to a bare identifier), never the message text a server chose.
 */
export function describeFailure(err: unknown): string {
  const e = err as { name?: string; code?: string; Code?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } } | undefined;
  const token = (s: string | undefined): string | undefined => (s && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(s) ? s : undefined);
  const code = token(e?.Code) ?? token(e?.code) ?? token(e?.cause?.code) ?? token(e?.name) ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  return status ? `HTTP ${status} (${code})` : code;
}

/** Reads at most `max` bytes of a body; more is an error (the stream is destroyed, nothing more is buffered). */
async function readCapped(body: unknown, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  const stream = body as Readable;
  for await (const chunk of stream) {
    n += (chunk as Buffer).length;
    if (n > max) {
      stream.destroy();
      throw new ConfigReadError('Invalid', `the config object is larger than ${max} bytes, so it is not a Tresor vault config`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The total size a ranged answer reports (`Content-Range: bytes 0-65535/TOTAL`), if any. */
function totalSize(contentRange: string | undefined, contentLength: number | undefined): number | undefined {
  const m = /\/(\d+)$/.exec(contentRange ?? '');
  return m ? Number(m[1]) : contentLength;
}

/** The production ConfigReader: a ranged GetObject of <prefix>config with the target's credentials. */
export async function readS3Config(target: S3Target, signal?: AbortSignal): Promise<Buffer> {
  const client = new S3Client({
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    region: target.region,
    forcePathStyle: target.forcePathStyle,
    credentials: target.credentials,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: CHECK_TIMEOUT_MS, throwOnRequestTimeout: true },
  });
  const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS);
  const abortSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: `${target.prefix}config`, Range: `bytes=0-${CONFIG_MAX_BYTES - 1}` }), { abortSignal });
    if (!out.Body) throw new ConfigReadError('Unreachable', 'the server returned an empty body for the config object');
    const size = totalSize(out.ContentRange, out.ContentLength);
    if (size !== undefined && size > CONFIG_MAX_BYTES) {
      (out.Body as Readable).destroy?.();
      throw new ConfigReadError('Invalid', `the config object has ${size} bytes, more than ${CONFIG_MAX_BYTES}, so it is not a Tresor vault config`);
    }
    // A server that ignores Range and lies about the length is still cut off after CONFIG_MAX_BYTES.
    return await readCapped(out.Body, CONFIG_MAX_BYTES);
  } catch (err) {
    if (err instanceof ConfigReadError) throw err;
    const failure = timeout.aborted ? 'Unreachable' : classify(err);
    const why = timeout.aborted ? `no answer within ${CHECK_TIMEOUT_MS / 1000} s` : describeFailure(err);
    throw new ConfigReadError(failure, why, { cause: err });
  } finally {
    client.destroy();
  }
}
