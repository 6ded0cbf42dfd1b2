// What integration and end-to-end suites stand on: the local environment that `hack/env.sh up` started
// (real kube-apiserver, Postgres, S3 server), read from the variables it exports, plus per-test
// namespaces and buckets so tests never see each other's objects.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

/** Where the local environment's services are, as `hack/env.sh up` exported them. */
export interface TestEnv {
  readonly kubeconfig: string;
  readonly pgUrl: string;
  readonly s3: {
    readonly endpoint: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly region: string;
  };
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: integration suites need the local environment. ` +
        `Run them through 'npm test' (which starts it) or first 'eval "$(npm run -s env:up)"'.`,
    );
  }
  return v;
}

/** Reads the local environment from the process environment; throws a message that says how to start it. */
export function testEnv(): TestEnv {
  return Object.freeze({
    kubeconfig: required('KUBECONFIG'),
    pgUrl: required('TRESOR_PG_URL'),
    s3: Object.freeze({
      endpoint: required('TRESOR_S3_ENDPOINT'),
      accessKeyId: required('AWS_ACCESS_KEY_ID'),
      secretAccessKey: required('AWS_SECRET_ACCESS_KEY'),
      region: process.env.AWS_REGION ?? 'us-east-1',
    }),
  });
}

/** A client-node KubeConfig for the local control plane (admin credentials). */
export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().kubeconfig);
  return kc;
}

/** A short random suffix for names that must not collide between runs. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

const TEST_LABEL = 'tresor.io/test';

/**
 * Creates a fresh namespace for one test and waits until it can hold pods (its `default`
 * ServiceAccount exists, which kube-controller-manager creates: pod admission needs it).
 */
export async function createNamespace(prefix: string): Promise<string> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${uniqueSuffix()}`;
  await core.createNamespace({ body: { metadata: { name, labels: { [TEST_LABEL]: 'true' } } } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return name;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`namespace ${name}: default ServiceAccount never appeared`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Deletes a test namespace (kube-controller-manager removes what is in it); tolerates NotFound. */
export async function deleteNamespace(name: string): Promise<void> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  try {
    await core.deleteNamespace({ name });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
}

/** What a kubectl run printed. */
export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the kubectl built with the control plane (first on the exported PATH) against the test cluster. */
export function kubectl(args: readonly string[], opts: { input?: string; namespace?: string } = {}): KubectlResult {
  const full = [...(opts.namespace ? ['-n', opts.namespace] : []), ...args];
  const p = spawnSync('kubectl', full, {
    input: opts.input,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: testEnv().kubeconfig },
    timeout: 120_000,
  });
  if (p.error) throw new Error(`kubectl ${full.join(' ')}: ${p.error.message}`);
  return { code: p.status ?? -1, stdout: p.stdout, stderr: p.stderr };
}

/** An S3 client for the local S3 server (path-style, as most self-hosted servers need). */
export function s3Client(): S3Client {
  const { s3 } = testEnv();
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** Creates a bucket with a unique name for one test. */
export async function createBucket(prefix: string): Promise<string> {
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${uniqueSuffix()}`;
  await s3Client().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Empties and deletes a test bucket. */
export async function deleteBucket(name: string): Promise<void> {
  const s3 = s3Client();
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: name }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length === 0) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: name }));
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs` saying what was awaited. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 200));
  }
}
