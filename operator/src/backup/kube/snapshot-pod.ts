// The snapshot pod's real ports: the guest agent through KubeVirt's freeze/unfreeze subresources
// (subresources.kubevirt.io/v1), and one CSI VolumeSnapshot per disk, created by deterministic name and
// owned by the job, counted as cut once the snapshotter stamps status.creationTime.
import http from 'node:http';
import https from 'node:https';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { Labels } from '../../api/constants.ts';
import type { GuestFreezer, HookRunner, SnapshotCutter } from '../freeze-window.ts';
import { jobChildNames } from '../names.ts';
import type { JobRef } from '../ports.ts';
import { createOrAdopt } from './client.ts';
import { jobLabels, ownerRef } from './specs.ts';
import { SNAPSHOTS, type VolumeSnapshot } from './volume-snapshots.ts';

/** Formats milliseconds as a Go duration, the form KubeVirt's unfreezeTimeout takes. */
export function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.ceil(ms)}ms`;
}

/** PUTs a JSON body to an API path with the kubeconfig's credentials; rejects with the status code on >= 300. */
export async function putJson(kc: KubeConfig, path: string, body: unknown): Promise<void> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const payload = Buffer.from(JSON.stringify(body));
  const opts: https.RequestOptions = { method: 'PUT', headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length, Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const mod = url.protocol === 'http:' ? http : https;
  await new Promise<void>((resolve, reject) => {
    const req = mod.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code < 300) return resolve();
        const text = Buffer.concat(chunks).toString('utf8');
        let message = text;
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          /* not JSON */
        }
        reject(Object.assign(new Error(`PUT ${path}: ${code} ${message}`), { code }));
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

// HTTP statuses and socket errors that say the request did not reach (or was not taken by) virt-api: the
// apiserver's proxy answers 503 "connection reset by peer" when an aggregated API's connection breaks,
// and a real virt-api answers 503/429 while it starts or sheds load.
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_ERRNO = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** True for an error of putJson worth sending again: an unavailable proxy or server, or a broken connection. */
export function isRetryableCall(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'number') return RETRYABLE_STATUS.has(e.code);
  if (typeof e?.code === 'string') return RETRYABLE_ERRNO.has(e.code);
  return typeof e?.message === 'string' && e.message.includes('socket hang up');
}

/** Options of retryWithin. */
export interface RetryWithinOptions {
  /** Give up (rethrowing the last error) when the next attempt would start after this many ms. */
  readonly budgetMs: number;
  readonly firstDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** Calls `fn` until it succeeds, fails with a non-retryable error, or the budget is spent; backoff doubles. */
export async function retryWithin<T>(fn: () => Promise<T>, o: RetryWithinOptions): Promise<T> {
  const now = o.now ?? Date.now;
  const wait = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + o.budgetMs;
  let delay = o.firstDelayMs ?? 200;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetryableCall(err) || now() + delay > deadline) throw err;
    }
    await wait(delay);
    delay = Math.min(delay * 2, o.maxDelayMs ?? 2000);
  }
}

/** The guest agent of one VMI, through KubeVirt's freeze and unfreeze subresources. */
export function kubevirtFreezer(kc: KubeConfig, namespace: string, vmi: string): GuestFreezer {
  const base = `/apis/subresources.kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/virtualmachineinstances/${encodeURIComponent(vmi)}`;
  return {
    // unfreezeTimeout makes the guest thaw by itself if this pod dies inside the window. A freeze that
    // virt-api did not take (503, reset) is sent again, within half the freeze timeout so the window that
    // follows keeps the other half; freezing is idempotent in KubeVirt (an already frozen guest stays so).
    freeze: (ms) => retryWithin(() => putJson(kc, `${base}/freeze`, { unfreezeTimeout: goDuration(ms) }), { budgetMs: ms / 2 }),
    unfreeze: () => putJson(kc, `${base}/unfreeze`, {}),
  };
}

/** Options of volumeSnapshotCutter. */
export interface CutterOptions {
  readonly kubeConfig: KubeConfig;
  readonly job: JobRef;
  readonly vmName: string;
  /** Disk name → PVC name. */
  readonly disks: ReadonlyMap<string, string>;
  readonly snapshotClass?: string;
  /** How long one cut may take before it counts as failed; default 5 min. */
  readonly cutTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Cuts one VolumeSnapshot per disk (adopting one this job already created) and waits for creationTime. */
export function volumeSnapshotCutter(o: CutterOptions): SnapshotCutter {
  const api = o.kubeConfig.makeApiClient(CustomObjectsApi);
  const ns = o.job.namespace;
  const names = jobChildNames(o.job.name);
  return {
    async cut(disk: string): Promise<{ snapshotName: string }> {
      const pvc = o.disks.get(disk);
      if (pvc === undefined) throw new Error(`disk ${disk} has no PVC`);
      const name = names.volumeSnapshot(disk);
      const body: VolumeSnapshot = {
        apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot',
        metadata: { name, namespace: ns, labels: jobLabels(o.job, o.vmName, { [Labels.Disk]: disk }), ownerReferences: [ownerRef(o.job)] },
        spec: { source: { persistentVolumeClaimName: pvc }, ...(o.snapshotClass ? { volumeSnapshotClassName: o.snapshotClass } : {}) },
      };
      await createOrAdopt<VolumeSnapshot>({
        kind: 'VolumeSnapshot', name, job: o.job,
        read: () => api.getNamespacedCustomObject({ ...SNAPSHOTS, namespace: ns, name }) as Promise<VolumeSnapshot>,
        create: () => api.createNamespacedCustomObject({ ...SNAPSHOTS, namespace: ns, body }) as Promise<VolumeSnapshot>,
      });
      const deadline = Date.now() + (o.cutTimeoutMs ?? 300_000);
      for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
        const vs = (await api.getNamespacedCustomObject({ ...SNAPSHOTS, namespace: ns, name })) as VolumeSnapshot;
        // creationTime is the instant the storage cut the snapshot: from here on the guest may thaw.
        if (vs.status?.creationTime) return { snapshotName: name };
        if (vs.status?.error?.message) throw new Error(`VolumeSnapshot ${name}: ${vs.status.error.message}`);
        if (Date.now() > deadline) throw new Error(`VolumeSnapshot ${name} of PVC ${pvc} was not cut within ${o.cutTimeoutMs ?? 300_000} ms`);
        await sleep(delay);
      }
    },
  };
}

/** Hooks are configured but this build cannot run commands in the guest: say so, so the job records it. */
export const unsupportedHooks: HookRunner = {
  run(phase): Promise<void> {
    return Promise.reject(new Error(`${phase}-hook: running commands in the guest is not supported yet`));
  },
};
