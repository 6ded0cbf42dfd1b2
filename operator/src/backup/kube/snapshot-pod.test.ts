// The freeze call over real loopback HTTP: a 503 from the apiserver's proxy (or a reset connection) is sent
// again within half the freeze timeout; a refusal that is an answer (409, 400) is not; an unavailable
// server past the budget fails with its own status, so the job still says why.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isRetryableCall, kubevirtFreezer, retryWithin } from './snapshot-pod.ts';

async function serve(answers: number[]): Promise<{ server: Server; kc: KubeConfig; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    const code = answers.length > 1 ? answers.shift()! : answers[0]!;
    if (code === 0) return req.socket.destroy(); // a reset connection
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message: code === 503 ? 'error trying to reach service: read: connection reset by peer' : 'answer' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { server, kc, paths };
}

async function rejection(p: Promise<unknown>): Promise<Error & { code: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: number };
  }
  throw new Error('expected the call to fail');
}

test('freeze: 503 and a reset connection are retried until virt-api takes the call', async () => {
  const { server, kc, paths } = await serve([503, 0, 503, 200]);
  try {
    await kubevirtFreezer(kc, 'ns', 'web-1').freeze(10_000);
    assert.is(paths.length, 4);
    assert.ok(paths.every((p) => p === 'PUT /apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachineinstances/web-1/freeze'), paths.join(', '));
  } finally {
    server.close();
  }
});

test('freeze: an answer that is a refusal is not retried; unavailable past the budget fails with the status', async () => {
  const refused = await serve([409]);
  try {
    const err = await rejection(kubevirtFreezer(refused.kc, 'ns', 'web-1').freeze(10_000));
    assert.is(err.code, 409);
    assert.is(refused.paths.length, 1);
  } finally {
    refused.server.close();
  }
  const down = await serve([503]);
  try {
    const started = Date.now();
    const err = await rejection(kubevirtFreezer(down.kc, 'ns', 'web-1').freeze(1_000));
    assert.is(err.code, 503);
    assert.match(err.message, 'connection reset by peer');
    assert.ok(down.paths.length >= 2, `retried: ${down.paths.length} calls`);
    assert.ok(Date.now() - started < 1_000, 'gave up within half the freeze timeout (plus one call)');
  } finally {
    down.server.close();
  }
});

test('retryWithin: backoff doubles up to the cap and stops at the budget', async () => {
  let t = 0;
  const waits: number[] = [];
  const calls: number[] = [];
  const err = await retryWithin(async () => {
    calls.push(t);
    throw Object.assign(new Error('x'), { code: 'ECONNRESET' });
  }, { budgetMs: 5_000, firstDelayMs: 500, maxDelayMs: 2_000, now: () => t, sleep: async (ms) => void (waits.push(ms), (t += ms)) }).catch((e: unknown) => e);
  assert.equal(waits, [500, 1000, 2000]);
  assert.is(calls.length, 4);
  assert.ok(err instanceof Error);
  assert.ok(isRetryableCall({ code: 503 }) && !isRetryableCall({ code: 404 }) && isRetryableCall(new Error('socket hang up')));
});

test.run();
