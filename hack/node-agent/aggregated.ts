// KubeVirt's freeze/unfreeze subresources (subresources.kubevirt.io/v1, served in a cluster by
// virt-api) as an aggregated API: an HTTPS server on 127.0.0.1, an ExternalName Service pointing at
// localhost:PORT (kube-aggregator resolves ExternalName services) and the APIService. Callers go
// through the real apiserver, which authenticates and authorizes them and proxies with its front-proxy
// client certificate; the server verifies that certificate against TRESOR_FRONT_PROXY_CA.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { AgentConfig } from './config.ts';
import { errMsg, type Log } from './log.ts';
import { isStatus, type Rest } from './rest.ts';
import { servingCert } from './tls.ts';

/** The API group and version served. */
export const GROUP = 'subresources.kubevirt.io';
const VERSION = 'v1';
const SERVICE = { namespace: 'kube-system', name: 'tresor-kubevirt-subresources' };
const ALLOWED_PROXY_NAMES = ['front-proxy-client'];

/** An answer of the aggregated API: HTTP code and JSON body (a Status for errors). */
export interface Answer {
  readonly code: number;
  readonly body: unknown;
}

/** What the server does for a freeze or unfreeze request. */
export type SubresourceHandler = (req: SubresourceRequest) => Promise<Answer>;

/** A PUT on one of the served subresources. */
export interface SubresourceRequest {
  readonly ns: string;
  readonly name: string;
  readonly action: VmiAction | VmAction;
  readonly body: unknown;
}

/** Subresources of virtualmachineinstances. */
export type VmiAction = 'freeze' | 'unfreeze';
/** Subresources of virtualmachines. */
export type VmAction = 'start' | 'stop' | 'restart';

const VMI_ACTIONS: readonly VmiAction[] = ['freeze', 'unfreeze'];
const VM_ACTIONS: readonly VmAction[] = ['start', 'stop', 'restart'];

/** A Kubernetes Status object for an error answer. */
export function failure(code: number, reason: string, message: string): Answer {
  return { code, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code } };
}

const resources = {
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${GROUP}/${VERSION}`,
  resources: [
    ...VMI_ACTIONS.map((s) => ({ name: `virtualmachineinstances/${s}`, singularName: '', namespaced: true, kind: 'VirtualMachineInstance', verbs: ['update'] })),
    ...VM_ACTIONS.map((s) => ({ name: `virtualmachines/${s}`, singularName: '', namespaced: true, kind: 'VirtualMachine', verbs: ['update'] })),
  ],
};
const group = { kind: 'APIGroup', apiVersion: 'v1', name: GROUP, versions: [{ groupVersion: `${GROUP}/${VERSION}`, version: VERSION }], preferredVersion: { groupVersion: `${GROUP}/${VERSION}`, version: VERSION } };
const DISCOVERY: Record<string, unknown> = {
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [group] },
  [`/apis/${GROUP}`]: group,
  [`/apis/${GROUP}/${VERSION}`]: resources,
};
const SUBRESOURCE = new RegExp(
  `^/apis/${GROUP}/${VERSION}/namespaces/([^/]+)/(?:virtualmachineinstances/([^/]+)/(${VMI_ACTIONS.join('|')})|virtualmachines/([^/]+)/(${VM_ACTIONS.join('|')}))$`,
);

function authorized(req: IncomingMessage, checkClient: boolean): boolean {
  if (!checkClient) return true;
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) return false;
  return ALLOWED_PROXY_NAMES.includes(String(socket.getPeerCertificate().subject?.CN ?? ''));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function route(req: IncomingMessage, handler: SubresourceHandler, checkClient: boolean): Promise<Answer> {
  const path = new URL(req.url ?? '/', 'https://x').pathname;
  if (['/healthz', '/readyz', '/livez'].includes(path)) return { code: 200, body: 'ok' };
  if (!authorized(req, checkClient)) return failure(401, 'Unauthorized', 'client certificate is not the apiserver\'s front-proxy client');
  const disc = DISCOVERY[path];
  if (disc && req.method === 'GET') return { code: 200, body: disc };
  const m = SUBRESOURCE.exec(path);
  if (!m) return failure(404, 'NotFound', `${path} not found`);
  if (req.method !== 'PUT') return failure(405, 'MethodNotAllowed', `${req.method} is not allowed on ${path}`);
  let body: unknown;
  try {
    body = await readBody(req);
  } catch {
    return failure(400, 'BadRequest', 'the request body is not JSON');
  }
  return handler({ ns: m[1]!, name: (m[2] ?? m[4])!, action: (m[3] ?? m[5]) as VmiAction | VmAction, body });
}

function reply(res: ServerResponse, a: Answer): void {
  const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
  res.writeHead(a.code, { 'Content-Type': typeof a.body === 'string' ? 'text/plain' : 'application/json' });
  res.end(text);
}

/** Starts the HTTPS server on 127.0.0.1 (a free port); resolves with the port and a stop function. */
export async function serveSubresources(cfg: AgentConfig, handler: SubresourceHandler, log: Log): Promise<{ port: number; stop: () => Promise<void> }> {
  const ca = cfg.frontProxyCa ? readFileSync(cfg.frontProxyCa) : undefined;
  if (!ca) log.warn('no front-proxy CA (TRESOR_FRONT_PROXY_CA / --front-proxy-ca): callers of the aggregated API are not verified');
  const server = https.createServer({ ...servingCert(cfg.stateDir), ...(ca ? { ca, requestCert: true, rejectUnauthorized: false } : {}) }, (req, res) => {
    route(req, handler, !!ca).then((a) => reply(res, a), (err: unknown) => reply(res, failure(500, 'InternalError', errMsg(err))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  // The aggregator keeps connections alive: close() alone would wait for them forever.
  const stop = (): Promise<void> => new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return { port, stop };
}

async function upsert(rest: Rest, path: string, body: { metadata: { name: string; namespace?: string } } & Record<string, unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rest.create(path, body);
      return;
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
    const cur = await rest.get<{ metadata: { resourceVersion: string }; spec?: Record<string, unknown> }>(`${path}/${body.metadata.name}`);
    const spec = { ...cur.spec, ...(body.spec as Record<string, unknown>) };
    try {
      await rest.put(`${path}/${body.metadata.name}`, { ...body, spec, metadata: { ...body.metadata, resourceVersion: cur.metadata.resourceVersion } });
      return;
    } catch (err) {
      if (!isStatus(err, 409) || attempt >= 5) throw err; // updated by another agent meanwhile: look again
    }
  }
}

const APISERVICES = '/apis/apiregistration.k8s.io/v1/apiservices';
const KEEP_MS = 5000;

interface ApiServiceObj {
  spec?: { service?: { port?: number } };
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
}

/** Whether an agent answers on 127.0.0.1:port (its /healthz needs no client certificate). */
function alive(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * Registers this agent as the server of the aggregated API and keeps it so: the last agent started
 * wins, and when the agent the APIService points at is gone (stopped, killed), a surviving one takes
 * over within seconds. A clean stop deletes the APIService if it points here.
 */
export async function keepApiService(rest: Rest, port: number, log: Log): Promise<{ stop: () => Promise<void> }> {
  await registerApiService(rest, port);
  const check = async (): Promise<void> => {
    const cur = await rest.get<ApiServiceObj>(`${APISERVICES}/${VERSION}.${GROUP}`).catch(() => undefined);
    const theirs = cur?.spec?.service?.port;
    if (theirs === port || (theirs !== undefined && (await alive(theirs)))) return;
    log.info('the aggregated API has no live server: serving it from this agent');
    await registerApiService(rest, port);
  };
  const timer = setInterval(() => {
    check().catch((err: unknown) => log.warn(`keeping the APIService: ${errMsg(err)}`));
  }, KEEP_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      const cur = await rest.get<ApiServiceObj>(`${APISERVICES}/${VERSION}.${GROUP}`).catch(() => undefined);
      if (cur?.spec?.service?.port === port) await rest.del(`${APISERVICES}/${VERSION}.${GROUP}`).catch(() => undefined);
    },
  };
}

/** Points the Service and the APIService v1.subresources.kubevirt.io at this agent's port. */
async function registerApiServiceObjects(rest: Rest, port: number): Promise<void> {
  await upsert(rest, `/api/v1/namespaces/${SERVICE.namespace}/services`, {
    apiVersion: 'v1', kind: 'Service', metadata: { name: SERVICE.name, namespace: SERVICE.namespace },
    spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port, protocol: 'TCP' }] },
  });
  await upsert(rest, APISERVICES, {
    apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: `${VERSION}.${GROUP}` },
    spec: { group: GROUP, version: VERSION, service: { ...SERVICE, port }, insecureSkipTLSVerify: true, groupPriorityMinimum: 1000, versionPriority: 15 },
  });
}

/**
 * Whether the API is Available through this agent or another live one. Another agent may take the
 * APIService over meanwhile (it saw the port we replaced as dead, or started at the same moment). Any
 * live agent serves every VMI, so the API being Available through it is what start-up waits for; waiting
 * for our own port instead never ended while that agent lived. A dead one's port is replaced again.
 */
async function servedByLiveAgent(rest: Rest, svc: ApiServiceObj, port: number): Promise<boolean> {
  const available = svc.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ?? false;
  const served = svc.spec?.service?.port;
  if (served === port || served === undefined) return available && served === port;
  if (await alive(served)) return available;
  await registerApiServiceObjects(rest, port);
  return false;
}

/** Points the APIService v1.subresources.kubevirt.io at this agent and waits until it is Available. */
export async function registerApiService(rest: Rest, port: number): Promise<void> {
  await registerApiServiceObjects(rest, port);
  const path = APISERVICES;
  const start = Date.now();
  let poked = start;
  for (;;) {
    const svc = await rest.get<ApiServiceObj>(`${path}/${VERSION}.${GROUP}`);
    const available = svc.status?.conditions?.find((c) => c.type === 'Available');
    if (await servedByLiveAgent(rest, svc, port)) return;
    if (Date.now() - start > 120_000) throw new Error(`APIService ${VERSION}.${GROUP} not Available after 120 s: ${available?.message ?? 'no condition'}`);
    if (Date.now() - poked > 15_000) {
      // The aggregator backs off an APIService whose checks failed (the previous agent's dead port);
      // an update makes it check again now.
      poked = Date.now();
      await rest.mergePatch(`${path}/${VERSION}.${GROUP}`, { metadata: { annotations: { 'tresor.io/poked': String(poked) } } });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
