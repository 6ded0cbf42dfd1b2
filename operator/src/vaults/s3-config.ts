// Reads an S3 vault's `config` object with credentials the operator took from the vault's Secret (the
// data mover's S3Store reads AWS_* from its pod's environment instead, which the operator cannot share
// between vaults). One short-lived client per check; failures are classified for the Ready reason.
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ConfigReadError, type ReadFailure, type S3Target } from './probe.ts';

/** How long one check may take before the vault counts as unreachable. */
export const CHECK_TIMEOUT_MS = 20_000;

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

/** The production ConfigReader: GetObject <prefix>config with the target's credentials. */
export async function readS3Config(target: S3Target, signal?: AbortSignal): Promise<Buffer> {
  const client = new S3Client({
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    region: target.region,
    forcePathStyle: target.forcePathStyle,
    credentials: target.credentials,
    maxAttempts: 2,
  });
  const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS);
  const abortSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: `${target.prefix}config` }), { abortSignal });
    if (!out.Body) throw new ConfigReadError('Unreachable', 'the server returned an empty body for the config object');
    return Buffer.from(await out.Body.transformToByteArray());
  } catch (err) {
    if (err instanceof ConfigReadError) throw err;
    const failure = timeout.aborted ? 'Unreachable' : classify(err);
    const why = timeout.aborted ? `no answer within ${CHECK_TIMEOUT_MS / 1000} s` : `${(err as Error).name}: ${(err as Error).message}`;
    throw new ConfigReadError(failure, why, { cause: err });
  } finally {
    client.destroy();
  }
}
