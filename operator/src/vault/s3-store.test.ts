// S3Store against small local HTTP servers: minutes of 503 SlowDown are survived with backoff, a black-hole
// endpoint times out instead of hanging (R7), and an oversized object is refused before it is read.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { S3_TIMEOUTS, S3Store } from './s3-store.ts';

const test = suite('vault: s3 store timeouts and retries');
const creds = { accessKeyId: 'x', secretAccessKey: 'y' };

/** A tiny S3: PUT, GET and HEAD of objects in memory; answers 503 SlowDown until `throttleUntil`. */
async function fakeS3(): Promise<{ url: string; objects: Map<string, Buffer>; throttleUntil: { t: number }; requests: { n: number; throttled: number }; close: () => void }> {
  const objects = new Map<string, Buffer>();
  const throttleUntil = { t: 0 };
  const requests = { n: 0, throttled: 0 };
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.n++;
      const key = decodeURIComponent((req.url ?? '').split('?')[0] ?? '');
      if (Date.now() < throttleUntil.t) {
        requests.throttled++;
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
        return;
      }
      if (req.method === 'PUT') {
        objects.set(key, Buffer.concat(chunks));
        res.writeHead(200, { etag: '"e"' });
        res.end();
        return;
      }
      const body = objects.get(key);
      if (!body) {
        res.writeHead(404, { 'content-type': 'application/xml' });
        res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
        return;
      }
      res.writeHead(200, { 'content-length': String(body.length), etag: '"e"', 'last-modified': new Date().toUTCString() });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, objects, throttleUntil, requests, close: () => srv.close() };
}

test('the default S3 client has finite connection and request timeouts', () => {
  assert.ok(S3_TIMEOUTS.connectionTimeout > 0 && S3_TIMEOUTS.connectionTimeout <= 30_000);
  assert.ok(S3_TIMEOUTS.requestTimeout > 0 && S3_TIMEOUTS.requestTimeout <= 300_000);
});

test('R7: an endpoint that accepts connections and never answers fails with a timeout instead of hanging', async () => {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => void sockets.push(s)).listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  const store = new S3Store({
    bucket: 'b', prefix: '', endpoint: `http://127.0.0.1:${port}`, credentials: creds,
    timeouts: { connectionTimeout: 500, requestTimeout: 500 }, retry: { deadlineMs: 2_000, baseMs: 50, capMs: 200 },
  });
  const t0 = Date.now();
  try {
    await store.get('config');
    assert.unreachable('a black-hole endpoint answered');
  } catch (err) {
    assert.match(String((err as Error).message) + String((err as { cause?: Error }).cause?.message ?? ''), /timed? ?out|timeout/i);
  } finally {
    for (const s of sockets) s.destroy();
    srv.close();
  }
  assert.ok(Date.now() - t0 < 20_000, `gave up only after ${Date.now() - t0} ms`);
});

test('a throttling period far longer than the SDK tolerates is survived with backoff', async () => {
  const s3 = await fakeS3();
  try {
    const store = new S3Store({ bucket: 'b', prefix: 'p', endpoint: s3.url, credentials: creds, retry: { deadlineMs: 30_000, baseMs: 50, capMs: 400 } });
    // Scaled down 60x: 3 s of SlowDown against waits of at most 0.4 s stands for 3 min against 30 s (the defaults).
    s3.throttleUntil.t = Date.now() + 3_000;
    await store.put('blocks/aa/x', Buffer.from('data'));
    assert.ok(s3.requests.throttled >= 5, `only ${s3.requests.throttled} throttled requests: the outage was not exercised`);
    assert.equal(await store.get('blocks/aa/x'), Buffer.from('data'));
    assert.is(await store.has('blocks/aa/missing'), false, '404 is an answer, not retried');
  } finally {
    s3.close();
  }
});

test('when throttling outlasts the retry deadline, the error says how long it tried', async () => {
  const s3 = await fakeS3();
  try {
    const store = new S3Store({ bucket: 'b', prefix: '', endpoint: s3.url, credentials: creds, retry: { deadlineMs: 1_000, baseMs: 50, capMs: 200 } });
    s3.throttleUntil.t = Date.now() + 60_000;
    try {
      await store.put('k', Buffer.from('x'));
      assert.unreachable('put succeeded during throttling');
    } catch (err) {
      assert.match((err as Error).message, /still failing after \d+ attempts over \d+ s/);
    }
  } finally {
    s3.close();
  }
});

test('an object larger than the caller allows is refused before its body is read', async () => {
  const s3 = await fakeS3();
  try {
    const store = new S3Store({ bucket: 'b', prefix: '', endpoint: s3.url, credentials: creds });
    await store.put('config', Buffer.alloc(200_000, 1));
    try {
      await store.get('config', 65_536);
      assert.unreachable('an oversized object was read');
    } catch (err) {
      assert.match((err as Error).message, /has 200000 bytes, more than the 65536/);
    }
    assert.is((await store.get('config')).length, 200_000);
  } finally {
    s3.close();
  }
});

test.run();
