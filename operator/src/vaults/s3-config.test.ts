// readS3Config against local HTTP servers playing hostile S3 endpoints (review H2: R6, R6b, R7).
import http from 'node:http';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkVault, ConfigReadError, type S3Target } from './probe.ts';
import { CONFIG_MAX_BYTES, readS3Config } from './s3-config.ts';

const target = (endpoint: string): S3Target => ({ endpoint, region: 'us-east-1', bucket: 'b', prefix: '', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });

async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => void }> {
  const srv = http.createServer(handler).listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  return { url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, close: () => srv.close() };
}

async function failure(p: Promise<unknown>): Promise<ConfigReadError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.instance(err, ConfigReadError);
  return err as ConfigReadError;
}

test('a 400 MiB config from a server that ignores Range is cut off after 64 KiB, without buffering it', async () => {
  let sent = 0;
  let served = 0;
  const s = await serve((req, res) => {
    served++;
    assert.is(req.headers.range, `bytes=0-${CONFIG_MAX_BYTES - 1}`, 'the operator asks for a range');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' }); // chunked: no length to judge by
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const push = (): void => {
      while (sent < 400 * 2 ** 20) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', push);
      }
      res.end();
    };
    res.on('close', () => undefined);
    push();
  });
  const before = process.memoryUsage().rss;
  try {
    const err = await failure(readS3Config(target(s.url)));
    assert.is(err.failure, 'Invalid');
    assert.match(err.message, /larger than 65536 bytes/);
    const grewMiB = (process.memoryUsage().rss - before) / 2 ** 20;
    console.log(`  400 MiB config: the server got ${(sent / 2 ** 20).toFixed(0)} MiB out before the operator hung up; RSS grew ${grewMiB.toFixed(1)} MiB`);
    assert.ok(sent < 64 * 2 ** 20, `the operator stopped reading early (server sent ${sent} bytes)`);
    assert.is(served, 1);
  } finally {
    s.close();
  }
});

test('a config larger than 64 KiB by its Content-Range is refused before its body is read', async () => {
  const s = await serve((_req, res) => {
    res.writeHead(206, { 'Content-Range': `bytes 0-${CONFIG_MAX_BYTES - 1}/${400 * 2 ** 20}`, 'Content-Length': String(CONFIG_MAX_BYTES) });
    res.end(Buffer.alloc(CONFIG_MAX_BYTES));
  });
  try {
    const err = await failure(readS3Config(target(s.url)));
    assert.equal([err.failure, err.message], ['Invalid', `the config object has ${400 * 2 ** 20} bytes, more than ${CONFIG_MAX_BYTES}, so it is not a Tresor vault config`]);
  } finally {
    s.close();
  }
});

test('an endpoint that accepts and never answers ends the read when the pass is cancelled', async () => {
  const sockets: net.Socket[] = [];
  const hole = net.createServer((sock) => void sockets.push(sock)).listen(0, '127.0.0.1');
  await new Promise((r) => hole.once('listening', r));
  const t0 = Date.now();
  try {
    const err = await failure(readS3Config(target(`http://127.0.0.1:${(hole.address() as net.AddressInfo).port}`), AbortSignal.timeout(1_500)));
    assert.is(err.failure, 'Unreachable');
    assert.ok(Date.now() - t0 < 10_000, `ended after ${Date.now() - t0} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    hole.close();
  }
});

test('the server\'s own words never reach the vault\'s status: only the status code and a bare error code', async () => {
  const bodies: Array<[number, string]> = [
    [403, '<Error><Code>AccessDenied</Code><Message>internal-token=abc123 from metadata service</Message></Error>'],
    [500, 'INTERNAL-SERVICE-BODY: db password=hunter2'],
    [400, '<Error><Code>Bad Code with spaces password=hunter2</Code><Message>x</Message></Error>'],
  ];
  for (const [code, body] of bodies) {
    const s = await serve((_req, res) => {
      res.writeHead(code, { 'Content-Type': body.startsWith('<') ? 'application/xml' : 'text/plain' });
      res.end(body);
    });
    try {
      const check = await checkVault(
        { apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace: 'ns' }, spec: { s3: { endpoint: s.url, bucket: 'b', forcePathStyle: true, credentialsSecretRef: { name: 's3' } }, encryption: { keySecretRef: { name: 'k' } } } },
        { secrets: { read: async (_ns, name): Promise<Record<string, Buffer>> => (name === 'k' ? { key: Buffer.from('5f0c9a2e7d4b81c6e3a09f1d2b7c4e8a6d1f03b9c5e7a2d48b6f1c0e9a3d7b52') } : { AWS_ACCESS_KEY_ID: Buffer.from('a'), AWS_SECRET_ACCESS_KEY: Buffer.from('b') }) }, readConfig: readS3Config },
      );
      assert.is(check.status, 'False');
      assert.not.match(check.message, /abc123|hunter2|metadata service|INTERNAL-SERVICE/, check.message);
      assert.match(check.message, new RegExp(`HTTP ${code}`), check.message);
    } finally {
      s.close();
    }
  }
});

test('an endpoint outside the allow-list is never called, and no Secret is read for it', async () => {
  let reads = 0;
  const check = await checkVault(
    { apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace: 'ns' }, spec: { s3: { endpoint: 'http://169.254.169.254', bucket: 'bkt', credentialsSecretRef: { name: 's3' } }, encryption: { keySecretRef: { name: 'k' } } } },
    { secrets: { read: async (_ns, name) => { if (name === 's3') reads++; return { key: Buffer.from('5f0c9a2e7d4b81c6e3a09f1d2b7c4e8a6d1f03b9c5e7a2d48b6f1c0e9a3d7b52') }; } }, readConfig: async () => { throw new Error('must not be called'); }, s3Endpoints: ['https://s3.eu-west-1.amazonaws.com'] },
  );
  assert.equal([check.status, check.reason, reads], ['False', 'EndpointNotAllowed', 0]);
  assert.match(check.message, /may not call http:\/\/169\.254\.169\.254: allowed S3 endpoints are https:\/\/s3\.eu-west-1\.amazonaws\.com/);
});

test.run();
