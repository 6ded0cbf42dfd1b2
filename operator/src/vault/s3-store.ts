// S3 backend (any S3-compatible server): one object per key under a bucket prefix.
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from './retry.ts';
import { NotFoundError, type ObjectStore, type StoredObject } from './store.ts';

/** Connection and per-request timeouts (ADR 0016): a black-hole endpoint fails instead of hanging. */
export const S3_TIMEOUTS = { connectionTimeout: 10_000, requestTimeout: 120_000 } as const;

/** Where an S3 vault lives; credentials come from the usual AWS environment variables. */
export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint?: string;
  readonly region?: string;
  /** Credentials; absent: the AWS environment (a pod's). The operator passes those of the vault's Secret. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Overrides of the timeouts and the retry policy (tests). */
  readonly timeouts?: { readonly connectionTimeout: number; readonly requestTimeout: number };
  readonly retry?: RetryPolicy;
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** An ObjectStore in an S3 bucket, under an optional key prefix. */
export class S3Store implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly retry: RetryPolicy;

  constructor(loc: S3Location) {
    this.bucket = loc.bucket;
    this.prefix = loc.prefix === '' || loc.prefix.endsWith('/') ? loc.prefix : `${loc.prefix}/`;
    this.location = `s3://${loc.bucket}/${this.prefix}${loc.endpoint ? ` at ${loc.endpoint}` : ''}`;
    this.client = new S3Client({
      ...(loc.endpoint ? { endpoint: loc.endpoint } : {}),
      region: loc.region ?? process.env.AWS_REGION ?? 'us-east-1',
      forcePathStyle: true,
      // Few SDK attempts: withRetry() keeps trying for minutes with its own backoff.
      maxAttempts: 2,
      requestHandler: { ...(loc.timeouts ?? S3_TIMEOUTS), throwOnRequestTimeout: true },
      ...(loc.credentials ? { credentials: loc.credentials } : {}),
    });
    this.retry = loc.retry ?? DEFAULT_RETRY;
  }

  private send<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(`${what} in ${this.location}`, fn, this.retry);
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.send(`put ${key}`, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: data })));
  }

  async get(key: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    try {
      return await this.send(`get ${key}`, async () => {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
        if (!out.Body) throw new Error(`empty body for ${key}`);
        // Refuse before reading: a planted multi-GB object must not exhaust memory.
        if ((out.ContentLength ?? 0) > maxBytes) {
          (out.Body as { destroy?: () => void }).destroy?.();
          throw new Error(`object ${key} in vault ${this.location} has ${out.ContentLength} bytes, more than the ${maxBytes} it may have`);
        }
        return readBounded(out.Body as AsyncIterable<Uint8Array>, key, maxBytes);
      });
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(key, this.location);
      throw err;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.send(`head ${key}`, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key })));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      const at = token;
      const out = await this.send(`list ${prefix}`, () => this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: at }),
      ));
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    await this.send(`delete ${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key })));
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const out = await this.send(`delete ${batch.length} objects`, () => this.client.send(new DeleteObjectsCommand({
        Bucket: this.bucket,
        Delete: { Objects: batch.map((k) => ({ Key: this.prefix + k })), Quiet: true },
      })));
      const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`could not delete ${failed.length} objects in ${this.location}, e.g. ${failed[0]?.Key}: ${failed[0]?.Code} ${failed[0]?.Message ?? ''}`);
    }
  }

  async sync(): Promise<void> {
    // S3 acknowledges a PUT only once the object is durable and visible.
  }
}

async function readBounded(body: AsyncIterable<Uint8Array>, key: string, maxBytes: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const part of body) {
    n += part.length;
    if (n > maxBytes) throw new Error(`object ${key} is larger than the ${maxBytes} bytes it may have`);
    parts.push(part);
  }
  return Buffer.concat(parts, n);
}
