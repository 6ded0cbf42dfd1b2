// The operations endpoint: /metrics for Prometheus, /healthz for the liveness probe, /readyz for the
// readiness probe, on a small node:http server. Checks are named, and a failing probe says which failed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A named probe check; throwing counts as failing, and the thrown error's message is shown with the name. */
export interface HealthCheck {
  readonly name: string;
  readonly check: () => boolean | Promise<boolean>;
}

/** Options of the operations server. */
export interface OpsServerOptions {
  readonly registry: Registry;
  readonly port: number;
  /** Defaults to all interfaces (the kubelet probes the pod IP). */
  readonly host?: string;
  readonly liveness?: readonly HealthCheck[];
  readonly readiness?: readonly HealthCheck[];
}

async function evaluate(checks: readonly HealthCheck[]): Promise<{ ok: boolean; lines: string[] }> {
  const lines: string[] = [];
  let ok = true;
  for (const c of checks) {
    let pass = false;
    let why = '';
    try {
      pass = await c.check();
    } catch (err) {
      pass = false;
      // One line per check: the reason (e.g. which API is not served) must not break the probe's format.
      why = `: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 300)}`;
    }
    ok &&= pass;
    lines.push(`[${pass ? '+' : '-'}]${c.name} ${pass ? 'ok' : 'failed'}${why}`);
  }
  return { ok, lines };
}

/** Serves /metrics, /healthz and /readyz until closed. */
export class OpsServer {
  private readonly opts: OpsServerOptions;
  private server: Server | undefined;

  constructor(opts: OpsServerOptions) {
    this.opts = opts;
  }

  /** Starts listening; resolves with the bound port (useful with port 0 in tests). */
  listen(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve((server.address() as AddressInfo).port));
    });
  }

  /** Stops accepting connections and closes idle ones. */
  close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    if (url.pathname === '/metrics') {
      const body = await this.opts.registry.metrics();
      res.writeHead(200, { 'content-type': this.opts.registry.contentType });
      res.end(body);
      return;
    }
    const checks = url.pathname === '/healthz' ? this.opts.liveness : url.pathname === '/readyz' ? this.opts.readiness : undefined;
    if (checks === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const { ok, lines } = await evaluate(checks);
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    // Like the apiserver's probes: terse "ok" by default, every check listed with ?verbose or on failure.
    res.end(ok && !url.searchParams.has('verbose') ? 'ok\n' : `${lines.join('\n')}\n${ok ? 'ok' : 'failed'}\n`);
  }
}
