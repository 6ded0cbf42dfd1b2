// Connection reuse for client-node. Its typed API clients build a new undici Agent for every request
// (KubeConfig.applySecurityAuthentication → createDispatcher), so every API call paid a fresh TCP connect
// and a TLS handshake with the client certificate: measured at ~90 handshakes per backup job, the largest
// CPU and memory cost of the operator at 100 VMs (docs/scale.md, ADR 0111). This keeps one dispatcher per
// distinct TLS identity and hands it to every request, so connections are pooled and kept alive.
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { KubeConfig } from '@kubernetes/client-node';

/** What we need of an undici Dispatcher: events for counting connections, and close. */
interface PooledDispatcher {
  on?(event: 'connect', fn: () => void): unknown;
  close?(): Promise<void>;
}

type CreateDispatcher = (cluster: unknown, agentOptions: unknown) => PooledDispatcher | undefined;

/** Dispatchers kept per KubeConfig; more than one only while a rotated client certificate replaces the old. */
const MAX_DISPATCHERS = 4;

/** Options of reuseConnections. */
export interface ReuseConnectionsOptions {
  /** Called once per new TCP/TLS connection to the API server (feeds tresor_kube_api_connections_total). */
  readonly onConnect?: () => void;
}

/**
 * Makes every API client built from `kc` share pooled keep-alive connections; returns `kc`. Idempotent.
 * A changed TLS identity (a rotated certificate file) gets a new pool, and the oldest pool is closed.
 */
export function reuseConnections(kc: KubeConfig, opts: ReuseConnectionsOptions = {}): KubeConfig {
  const target = kc as unknown as { createDispatcher?: CreateDispatcher; createDispatcherOptions: (c: unknown, a: unknown) => unknown; tresorReuse?: true };
  if (target.tresorReuse) return kc;
  const original = target.createDispatcher;
  // A private method of client-node 2.x: fail loudly at start (and in the tests) if an upgrade moved it.
  if (typeof original !== 'function') throw new Error('reuseConnections: @kubernetes/client-node has no KubeConfig.createDispatcher; update operator/src/runtime/connections.ts for this version');
  const pools = new Map<string, PooledDispatcher | undefined>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = createHash('sha256').update(JSON.stringify(target.createDispatcherOptions(cluster, agentOptions))).digest('hex');
    if (pools.has(key)) return pools.get(key);
    const d = original.call(kc, cluster, agentOptions);
    if (d && opts.onConnect) d.on?.('connect', opts.onConnect);
    pools.set(key, d);
    if (pools.size > MAX_DISPATCHERS) {
      const [oldestKey, oldest] = pools.entries().next().value!;
      pools.delete(oldestKey);
      // close() lets requests in flight finish; a watch on it ends and its informer re-watches on the new pool.
      void oldest?.close?.().catch(() => undefined);
    }
    return d;
  };
  target.tresorReuse = true;
  return kc;
}

const WRITE_VERBS: Readonly<Record<string, string>> = { POST: 'create', PUT: 'update', PATCH: 'patch' };

function verbOf(method: string, named: boolean, watch: boolean): string {
  const m = method.toUpperCase();
  if (m === 'GET') return watch ? 'watch' : named ? 'get' : 'list';
  if (m === 'DELETE') return named ? 'delete' : 'deletecollection';
  return WRITE_VERBS[m] ?? m.toLowerCase();
}

/** The verb and resource of an API request path, as the apiserver's apiserver_request_total labels them. */
export function classifyRequest(method: string, pathAndQuery: string): { verb: string; resource: string } {
  const [path = '', query = ''] = pathAndQuery.split('?', 2);
  const seg = path.split('/').filter(Boolean);
  if (seg[0] !== 'api' && seg[0] !== 'apis') return { verb: method.toLowerCase(), resource: 'nonresource' };
  // /api/v1/[namespaces/ns/]plural[/name[/sub]] or /apis/group/version/[namespaces/ns/]plural[/name[/sub]]
  const group = seg[0] === 'apis' ? `.${seg[1] ?? ''}` : '';
  let rest = seg.slice(seg[0] === 'api' ? 2 : 3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const sub = rest[2] === undefined ? '' : `/${rest[2]}`;
  const verb = verbOf(method, rest.length >= 2, /(^|&)watch=(true|1)/.test(query));
  return { verb, resource: `${rest[0] ?? 'other'}${group}${sub}` };
}

/**
 * Counts this process's API requests by verb and resource (from undici's diagnostics channel, so every
 * client built from any KubeConfig counts) while `signal` is not aborted; only requests to `origin`.
 */
export function countApiRequests(origin: string, onRequest: (verb: string, resource: string) => void, signal: AbortSignal): void {
  const want = new URL(origin).origin;
  const handler = (message: unknown): void => {
    const req = (message as { request?: { origin?: unknown; method?: unknown; path?: unknown } }).request;
    if (!req || typeof req.method !== 'string' || typeof req.path !== 'string') return;
    if (String(req.origin) !== want && !String(req.origin).startsWith(want)) return;
    const { verb, resource } = classifyRequest(req.method, req.path);
    onRequest(verb, resource);
  };
  subscribe('undici:request:create', handler);
  signal.addEventListener('abort', () => unsubscribe('undici:request:create', handler), { once: true });
}
