// `tresor disk backup --progress-events`: the mover keeps one Event on its own Pod up to date with its
// latest progress sample (ADR 0052), which the operator relays onto the job's status. Best effort by
// design: a missing permission or an unreachable API is said once on stderr and the transfer goes on.
import http from 'node:http';
import https from 'node:https';
import type { CoreV1Event, KubeConfig } from '@kubernetes/client-node';
import { EventReasons } from '../api/constants.ts';
import { encodeProgress, PROGRESS_ANNOTATION, progressEventName, progressMessage, type TransferProgress } from '../backup/progress.ts';
import type { Progress, ProgressSink } from '../mover/progress.ts';
import { httpStatusOf } from '../runtime/errors.ts';

/** The pod the mover runs in, from the downward API. */
export interface PodIdentity {
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string;
}

/** The Event calls the reporter makes (core/v1 in production, a map in unit tests). */
export interface ProgressEventApi {
  create(namespace: string, event: CoreV1Event): Promise<void>;
  /** A JSON merge patch of the named Event. */
  patch(namespace: string, name: string, patch: Record<string, unknown>): Promise<void>;
  /** Abandons requests still in flight (so the process can exit). */
  close?(): void;
}

/** Options of PodProgressReporter. */
export interface ReporterOptions {
  readonly api: ProgressEventApi;
  readonly pod: PodIdentity;
  /** Least time between two writes; default 2 s. */
  readonly intervalMs?: number;
  readonly now?: () => number;
  /** Where the one complaint goes; default stderr. */
  readonly warn?: (line: string) => void;
  /** How long close() waits for the last write; default 2 s. */
  readonly closeTimeoutMs?: number;
}

/** Sends the latest sample at most every interval, one write at a time; never throws into the transfer. */
export class PodProgressReporter {
  private readonly o: ReporterOptions;
  private readonly now: () => number;
  private readonly eventName: string;
  private latest: TransferProgress | undefined;
  private sentDone = -1;
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private created = false;
  private disabled = false;
  private complained = false;
  private closed = false;
  private count = 0;
  private inflight: Promise<void> | undefined;

  constructor(o: ReporterOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.eventName = progressEventName(o.pod.name);
  }

  /** The ProgressSink to give the mover. */
  readonly sink: ProgressSink = (p: Progress) => {
    this.latest = { bytesDone: p.bytesDone, bytesTotal: p.bytesTotal };
    if (this.now() - this.lastSentAt >= (this.o.intervalMs ?? 2000)) this.kick();
  };

  /** Waits for the write in flight, then sends the final sample if it is newer (bounded by closeTimeoutMs). */
  async close(): Promise<void> {
    const last = (async (): Promise<void> => {
      await this.inflight;
      this.kick();
      await this.inflight;
    })();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.o.closeTimeoutMs ?? 2000);
      timer.unref();
    });
    await Promise.race([last, limit]);
    clearTimeout(timer);
    this.closed = true;
    this.o.api.close?.();
  }

  private kick(): void {
    const p = this.latest;
    if (this.disabled || this.inflight !== undefined || p === undefined || p.bytesDone === this.sentDone) return;
    this.lastSentAt = this.now();
    this.inflight = this.send(p).finally(() => {
      this.inflight = undefined;
    });
  }

  private async send(p: TransferProgress): Promise<void> {
    try {
      await this.write(p);
      this.sentDone = p.bytesDone;
    } catch (err) {
      this.failed(err);
    }
  }

  private async write(p: TransferProgress): Promise<void> {
    const { namespace } = this.o.pod;
    const at = new Date(this.now());
    this.count++;
    if (this.created) {
      try {
        await this.o.api.patch(namespace, this.eventName, {
          metadata: { annotations: { [PROGRESS_ANNOTATION]: encodeProgress(p) } }, message: progressMessage(p), count: this.count, lastTimestamp: at.toISOString(),
        });
        return;
      } catch (err) {
        // The Event expired (events have a TTL) or was deleted: create it again next time.
        if (httpStatusOf(err) === 404) this.created = false;
        throw err;
      }
    }
    try {
      await this.o.api.create(namespace, this.event(p, at));
      this.created = true;
    } catch (err) {
      // Already there (a write whose answer was lost): patch it from now on, starting with this sample.
      if (httpStatusOf(err) !== 409) throw err;
      this.created = true;
      await this.write(p);
    }
  }

  private event(p: TransferProgress, at: Date): CoreV1Event {
    const { name, namespace, uid } = this.o.pod;
    return {
      metadata: { name: this.eventName, namespace, annotations: { [PROGRESS_ANNOTATION]: encodeProgress(p) } },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name, namespace, ...(uid ? { uid } : {}) },
      type: 'Normal', reason: EventReasons.TransferProgress, message: progressMessage(p), action: 'Transfer',
      source: { component: 'tresor-mover' }, reportingComponent: 'tresor.io/mover', reportingInstance: name,
      firstTimestamp: at, lastTimestamp: at, count: this.count,
    };
  }

  private failed(err: unknown): void {
    const status = httpStatusOf(err);
    // Without the permission no later write can succeed; other failures (a blip) may pass, so keep trying quietly.
    if (status === 401 || status === 403) this.disabled = true;
    // A request abandoned by close() is not worth a complaint.
    if (this.complained || this.closed) return;
    this.complained = true;
    const why = status === 401 || status === 403
      ? `the pod's ServiceAccount may not create and patch Events in namespace ${this.o.pod.namespace} (HTTP ${status})`
      : (err instanceof Error ? err.message : String(err));
    (this.o.warn ?? ((l: string) => process.stderr.write(`${l}\n`)))(`tresor: progress not reported: ${why}; the transfer goes on`);
  }
}

/**
 * Credentials of the pod's ServiceAccount in a pod; the usual kubeconfig outside one (people, tests).
 * client-node takes over a second to load: it loads beside the transfer instead of before it.
 */
async function kubeConfig(): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/** Sends one JSON request; rejects with `code` = the HTTP status on >= 300, or on timeout or abort. */
async function sendJson(kcReady: Promise<KubeConfig>, req: { method: string; path: string; body: unknown; contentType: string; timeoutMs: number; signal: AbortSignal }): Promise<void> {
  const kc = await kcReady;
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + req.path);
  const payload = Buffer.from(JSON.stringify(req.body));
  const opts: https.RequestOptions = { method: req.method, headers: { 'Content-Type': req.contentType, 'Content-Length': payload.length, Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  await new Promise<void>((resolve, reject) => {
    // The signal and the timeout matter: a request hanging on an unreachable API would keep the process alive.
    const r = (url.protocol === 'http:' ? http : https).request(url, { ...opts, signal: req.signal, timeout: req.timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code < 300) resolve();
        else reject(Object.assign(new Error(`${req.method} ${req.path}: HTTP ${code}`), { code }));
      });
    });
    r.on('timeout', () => r.destroy(new Error(`${req.method} ${req.path}: no answer within ${req.timeoutMs} ms`)));
    r.on('error', reject);
    r.end(payload);
  });
}

/** The core/v1 Events API, each request bounded by timeoutMs; close() aborts what is still in flight. */
export function kubeProgressEventApi(config: KubeConfig | Promise<KubeConfig> = kubeConfig(), timeoutMs = 10_000): ProgressEventApi {
  const kc = Promise.resolve(config);
  // A kubeconfig that cannot load fails each request (said once by the reporter), not the process.
  kc.catch(() => undefined);
  const aborter = new AbortController();
  const events = (ns: string): string => `/api/v1/namespaces/${encodeURIComponent(ns)}/events`;
  return {
    create: (ns, body) => sendJson(kc, { method: 'POST', path: events(ns), body, contentType: 'application/json', timeoutMs, signal: aborter.signal }),
    patch: (ns, name, body) => sendJson(kc, {
      method: 'PATCH', path: `${events(ns)}/${encodeURIComponent(name)}`, body, contentType: 'application/merge-patch+json', timeoutMs, signal: aborter.signal,
    }),
    close: () => aborter.abort(),
  };
}

/** A reporter for the pod named by POD_NAME / POD_NAMESPACE / POD_UID, or undefined (said once) without them. */
export function podProgressReporter(env: NodeJS.ProcessEnv, warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): PodProgressReporter | undefined {
  const name = env.POD_NAME;
  const namespace = env.POD_NAMESPACE;
  if (!name || !namespace) {
    warn('tresor: progress not reported: --progress-events needs POD_NAME and POD_NAMESPACE (downward API); the transfer goes on');
    return undefined;
  }
  return new PodProgressReporter({ api: kubeProgressEventApi(), pod: { name, namespace, ...(env.POD_UID ? { uid: env.POD_UID } : {}) }, warn });
}
