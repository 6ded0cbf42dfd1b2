import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CoreV1Event, KubeConfig } from '@kubernetes/client-node';
import { decodeProgress } from '../backup/progress.ts';
import { kubeProgressEventApi, PodProgressReporter, podProgressReporter, type ProgressEventApi } from './progress-events.ts';

const apiError = (code: number): Error => Object.assign(new Error(`HTTP ${code}`), { code });
const sample = (bytesDone: number, bytesTotal = 100): { phase: 'backup'; bytesDone: number; bytesTotal: number } => ({ phase: 'backup', bytesDone, bytesTotal });

/** Events in memory; `fail` decides an error per call. */
function fakeApi(fail: (call: 'create' | 'patch', n: number) => Error | undefined = () => undefined): ProgressEventApi & { events: Map<string, CoreV1Event>; calls: string[] } {
  const events = new Map<string, CoreV1Event>();
  const calls: string[] = [];
  return {
    events, calls,
    async create(ns, ev) {
      calls.push('create');
      const err = fail('create', calls.length);
      if (err) throw err;
      if (events.has(ev.metadata.name!)) throw apiError(409);
      events.set(ev.metadata.name!, ev);
    },
    async patch(ns, name, p) {
      calls.push('patch');
      const err = fail('patch', calls.length);
      if (err) throw err;
      const cur = events.get(name);
      if (!cur) throw apiError(404);
      const meta = p.metadata as { annotations: Record<string, string> };
      events.set(name, { ...cur, message: p.message as string, count: p.count as number, metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, ...meta.annotations } } });
    },
  };
}

const pod = { name: 'job-a-xfer-0', namespace: 'ns', uid: 'u-1' };
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
const latest = (api: ReturnType<typeof fakeApi>): number | undefined => decodeProgress(api.events.get('job-a-xfer-0.progress')?.metadata.annotations?.['tresor.io/progress'])?.bytesDone;

test('the first sample creates one Event on the pod; later ones patch it, at most once per interval', async () => {
  const api = fakeApi();
  const clock = { t: 0 };
  const r = new PodProgressReporter({ api, pod, intervalMs: 2000, now: () => clock.t });
  for (let done = 10; done <= 50; done += 10) {
    r.sink(sample(done));
    await flush();
    clock.t += 1000;
  }
  assert.equal(api.calls, ['create', 'patch', 'patch'], 'samples at 0, 2 and 4 s');
  const ev = api.events.get('job-a-xfer-0.progress')!;
  assert.equal(ev.involvedObject, { apiVersion: 'v1', kind: 'Pod', name: 'job-a-xfer-0', namespace: 'ns', uid: 'u-1' });
  assert.is(ev.reason, 'TransferProgress');
  assert.is(latest(api), 50);
  assert.match(ev.message ?? '', /\(50%\)$/);
});

test('close() sends the final sample even inside the interval', async () => {
  const api = fakeApi();
  const r = new PodProgressReporter({ api, pod, intervalMs: 60_000, now: () => 0 });
  r.sink(sample(10));
  r.sink(sample(100));
  await r.close();
  assert.is(latest(api), 100);
  assert.equal(api.calls, ['create', 'patch']);
});

test('403: said once, never tried again, and the sink keeps accepting samples', async () => {
  const api = fakeApi(() => apiError(403));
  const warnings: string[] = [];
  const clock = { t: 0 };
  const r = new PodProgressReporter({ api, pod, intervalMs: 1, now: () => clock.t, warn: (l) => warnings.push(l) });
  for (let i = 1; i <= 5; i++) {
    r.sink(sample(i));
    await flush();
    clock.t += 10;
  }
  await r.close();
  assert.equal(api.calls, ['create']);
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, /may not create and patch Events in namespace ns \(HTTP 403\); the transfer goes on/);
});

test('an unreachable API is said once and retried with the next sample', async () => {
  const api = fakeApi((_c, n) => (n <= 2 ? Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) : undefined));
  const warnings: string[] = [];
  const clock = { t: 0 };
  const r = new PodProgressReporter({ api, pod, intervalMs: 1, now: () => clock.t, warn: (l) => warnings.push(l) });
  for (let i = 1; i <= 3; i++) {
    r.sink(sample(i * 10));
    await flush();
    clock.t += 10;
  }
  assert.is(warnings.length, 1);
  assert.is(latest(api), 30);
});

test('an Event already there (409) is patched; an expired one (404) is created again', async () => {
  const api = fakeApi();
  api.events.set('job-a-xfer-0.progress', { metadata: { name: 'job-a-xfer-0.progress', annotations: {} }, involvedObject: {} });
  const clock = { t: 0 };
  const r = new PodProgressReporter({ api, pod, intervalMs: 1, now: () => clock.t, warn: () => undefined });
  r.sink(sample(10));
  await flush();
  assert.is(latest(api), 10);
  api.events.clear();
  for (let i = 2; i <= 3; i++) {
    clock.t += 10;
    r.sink(sample(i * 10));
    await flush();
  }
  assert.equal(api.calls, ['create', 'patch', 'patch', 'create']);
  assert.is(latest(api), 30);
});

test('without POD_NAME / POD_NAMESPACE there is no reporter, and it says why', () => {
  const warnings: string[] = [];
  assert.is(podProgressReporter({ POD_NAMESPACE: 'ns' }, (l) => warnings.push(l)), undefined);
  assert.match(warnings[0] ?? '', /needs POD_NAME and POD_NAMESPACE/);
});

/** A stand-in apiserver answering each request with `answer` (or never, when it returns undefined). */
async function apiserver(answer: (req: IncomingMessage, body: string) => number | undefined): Promise<{ server: Server; kc: KubeConfig; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const code = answer(req, body);
      if (code !== undefined) res.writeHead(code, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  return { server, kc, seen };
}

test('the real API client: POST then merge-PATCH of the Event; an HTTP status becomes the error code', async () => {
  const { server, kc, seen } = await apiserver((req) => (req.url?.endsWith('/events') ? 201 : 403));
  const api = kubeProgressEventApi(kc);
  await api.create('ns', { metadata: { name: 'p.progress' }, involvedObject: {} });
  const err = await api.patch('ns', 'p.progress', { message: 'x' }).catch((e: unknown) => e);
  assert.is((err as { code?: number }).code, 403);
  assert.equal(seen, ['POST /api/v1/namespaces/ns/events application/json', 'PATCH /api/v1/namespaces/ns/events/p.progress application/merge-patch+json']);
  server.close();
});

test('credentials that cannot load are said once, and the sink goes on accepting samples', async () => {
  const warnings: string[] = [];
  const clock = { t: 0 };
  const r = new PodProgressReporter({ api: kubeProgressEventApi(Promise.reject(new Error('no token file'))), pod, intervalMs: 1, now: () => clock.t, warn: (l) => warnings.push(l) });
  for (let i = 1; i <= 3; i++) {
    r.sink(sample(i));
    await new Promise((res) => setTimeout(res, 5));
    clock.t += 10;
  }
  await r.close();
  assert.equal(warnings, ['tresor: progress not reported: no token file; the transfer goes on']);
});

test('close() returns, and abandons a request the API never answers (the pod can exit)', async () => {
  const { server, kc } = await apiserver(() => undefined);
  const warnings: string[] = [];
  const r = new PodProgressReporter({ api: kubeProgressEventApi(kc, 60_000), pod, closeTimeoutMs: 200, warn: (l) => warnings.push(l) });
  r.sink(sample(10));
  await r.close();
  // The server can close only once no connection is left open; a request still hanging would keep it (and the pod) up.
  const closed = await new Promise<boolean>((resolve) => {
    const guard = setTimeout(() => resolve(false), 20_000);
    server.close(() => {
      clearTimeout(guard);
      resolve(true);
    });
    server.closeIdleConnections();
  });
  if (!closed) server.closeAllConnections();
  assert.ok(closed, 'the request was still open after close()');
  assert.equal(warnings, [], 'an abandoned request is not a complaint');
});

test.run();
