// A small JSON client for the Kubernetes API: every stand-in here reads, creates, patches and deletes
// plain objects (including CRDs and subresources), which is simpler and more uniform through one
// request function than through client-node's per-kind generated methods.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An error answer from the API server, with its HTTP status code. */
export class ApiError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/** The JSON REST calls the agent makes against the API server. */
export interface Rest {
  get<T>(path: string): Promise<T>;
  create<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  mergePatch<T>(path: string, patch: unknown): Promise<T>;
  del(path: string, body?: unknown): Promise<void>;
  /** The API server's base URL (https://127.0.0.1:PORT). */
  readonly server: string;
}

/** True when `err` is an API answer with the given status code (404, 409, ...). */
export function isStatus(err: unknown, code: number): boolean {
  return err instanceof ApiError && err.code === code;
}

/** Runs `fn`, treating 404 NotFound as success (cleanup that may race with others). */
export async function ignoreNotFound(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
  }
}

/** Builds a REST client from a KubeConfig (uses its current cluster and credentials). */
export function makeRest(kc: KubeConfig): Rest {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/$/, '');
  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> => {
    const url = new URL(server + path);
    const opts: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
    await kc.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) opts.headers = { ...opts.headers, 'Content-Type': contentType, 'Content-Length': payload.length };
    return send(url, opts, payload, `${method} ${path}`);
  };
  return {
    server,
    get: async <T>(path: string) => (await call('GET', path)) as T,
    create: async <T>(path: string, body: unknown) => (await call('POST', path, body)) as T,
    put: async <T>(path: string, body: unknown) => (await call('PUT', path, body)) as T,
    mergePatch: async <T>(path: string, patch: unknown) => (await call('PATCH', path, patch, 'application/merge-patch+json')) as T,
    del: async (path: string, body?: unknown) => {
      await call('DELETE', path, body);
    },
  };
}

function send(url: URL, opts: https.RequestOptions, payload: Buffer | undefined, what: string): Promise<unknown> {
  const mod = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const code = res.statusCode ?? 0;
        if (code >= 300) {
          let message = text;
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? text;
          } catch {
            /* not JSON: keep the text */
          }
          reject(new ApiError(`${what}: ${code} ${message}`, code));
          return;
        }
        resolve(text ? JSON.parse(text) : undefined);
      });
    });
    req.on('error', (err) => reject(new Error(`${what}: ${err.message}`, { cause: err })));
    req.setTimeout(60_000, () => req.destroy(new Error('request timed out after 60 s')));
    if (payload) req.write(payload);
    req.end();
  });
}
