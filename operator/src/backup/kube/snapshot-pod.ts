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

/** The guest agent of one VMI, through KubeVirt's freeze and unfreeze subresources. */
export function kubevirtFreezer(kc: KubeConfig, namespace: string, vmi: string): GuestFreezer {
  const base = `/apis/subresources.kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/virtualmachineinstances/${encodeURIComponent(vmi)}`;
  return {
    // unfreezeTimeout makes the guest thaw by itself if this pod dies inside the window.
    freeze: (ms) => putJson(kc, `${base}/freeze`, { unfreezeTimeout: goDuration(ms) }),
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
