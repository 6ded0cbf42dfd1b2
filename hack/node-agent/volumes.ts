// A pod's volumes on the host: a PVC is the file or directory its PV's volumeHandle names (the CSI
// stand-in puts it there); secret, configMap, downwardAPI and projected volumes (the ServiceAccount
// token kube-apiserver's admission adds to every pod) are written into the pod's directory; emptyDir
// is a directory there; hostPath is used as it is.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type {
  V1ConfigMapProjection, V1KeyToPath, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1SecretProjection, V1SecretVolumeSource,
  V1ServiceAccountTokenProjection, V1Volume, V1VolumeProjection,
} from '@kubernetes/client-node';
import { fieldValue } from './env.ts';
import type { Rest } from './rest.ts';

/** What a pod volume is on the host. `file` is a block volume's backing file. */
export interface HostVolume {
  readonly path: string;
  readonly kind: 'dir' | 'file';
  readonly readOnly: boolean;
}

/** A volume that is not there yet (PVC not bound, secret missing): the pod stays Pending and is retried. */
export class VolumeNotReady extends Error {}

/** The CSI driver name of the agent's storage stand-in. */
export const CSI_DRIVER = 'local.csi.tresor.io';

type Files = Record<string, Buffer>;

function writeFiles(dir: string, files: Files, items: readonly V1KeyToPath[] | undefined, mode: number): void {
  mkdirSync(dir, { recursive: true });
  const chosen = items?.length ? items.map((i) => [i.key, i.path, i.mode] as const) : Object.keys(files).map((k) => [k, k, undefined] as const);
  for (const [key, path, itemMode] of chosen) {
    const data = files[key];
    if (data === undefined) throw new VolumeNotReady(`key ${key} not found`);
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, data, { mode: itemMode ?? mode });
  }
}

async function objectFiles(rest: Rest, ns: string, kind: 'secrets' | 'configmaps', name: string): Promise<Files | undefined> {
  try {
    const o = await rest.get<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(`/api/v1/namespaces/${ns}/${kind}/${name}`);
    const files: Files = {};
    for (const [k, v] of Object.entries(o.data ?? {})) files[k] = Buffer.from(v, kind === 'secrets' ? 'base64' : 'utf8');
    for (const [k, v] of Object.entries(o.binaryData ?? {})) files[k] = Buffer.from(v, 'base64');
    return files;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

async function pvcVolume(rest: Rest, ns: string, claimName: string, readOnly: boolean): Promise<HostVolume> {
  const pvc = await rest.get<V1PersistentVolumeClaim>(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${claimName}`).catch(() => undefined);
  if (!pvc) throw new VolumeNotReady(`persistentvolumeclaim "${claimName}" not found`);
  if (pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) throw new VolumeNotReady(`persistentvolumeclaim "${claimName}" is not bound`);
  const pv = await rest.get<V1PersistentVolume>(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
  if (pv.spec?.csi?.driver !== CSI_DRIVER) throw new Error(`volume ${pv.metadata?.name} is not from ${CSI_DRIVER}; the local node cannot attach it`);
  return { path: pv.spec.csi.volumeHandle, kind: pv.spec.volumeMode === 'Block' ? 'file' : 'dir', readOnly };
}

async function tokenFile(rest: Rest, pod: V1Pod, src: V1ServiceAccountTokenProjection, dir: string): Promise<void> {
  const sa = pod.spec?.serviceAccountName ?? 'default';
  const spec = {
    ...(src.audience ? { audiences: [src.audience] } : {}),
    expirationSeconds: src.expirationSeconds ?? 3607,
    boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name, uid: pod.metadata!.uid },
  };
  const tr = await rest.create<{ status: { token: string } }>(`/api/v1/namespaces/${pod.metadata!.namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec,
  });
  writeFiles(dir, { [src.path]: Buffer.from(tr.status.token) }, undefined, 0o600);
}

interface ObjectRef {
  readonly kind: 'secrets' | 'configmaps';
  readonly name: string;
  readonly optional?: boolean;
  readonly items?: V1KeyToPath[];
  readonly mode?: number;
}

async function refFiles(rest: Rest, ns: string, ref: ObjectRef, dir: string): Promise<void> {
  const files = await objectFiles(rest, ns, ref.kind, ref.name);
  if (!files && !ref.optional) throw new VolumeNotReady(`${ref.kind === 'secrets' ? 'secret' : 'configmap'} "${ref.name}" not found`);
  writeFiles(dir, files ?? {}, ref.items, ref.mode ?? 0o644);
}

function objectRef(src: { secret?: V1SecretProjection | V1SecretVolumeSource; configMap?: V1ConfigMapProjection }): ObjectRef | undefined {
  if (src.secret) {
    const s = src.secret as { name?: string; secretName?: string; optional?: boolean; items?: V1KeyToPath[] };
    const name = s.secretName ?? s.name;
    return name ? { kind: 'secrets', name, optional: s.optional, items: s.items } : undefined;
  }
  if (src.configMap?.name) return { kind: 'configmaps', name: src.configMap.name, optional: src.configMap.optional, items: src.configMap.items };
  return undefined;
}

async function projectedFiles(rest: Rest, pod: V1Pod, src: V1VolumeProjection, dir: string): Promise<void> {
  if (src.serviceAccountToken) await tokenFile(rest, pod, src.serviceAccountToken, dir);
  const ref = objectRef(src);
  if (ref) await refFiles(rest, pod.metadata!.namespace!, ref, dir);
  for (const item of src.downwardAPI?.items ?? []) {
    if (item.fieldRef) writeFiles(dir, { [item.path]: Buffer.from(fieldValue(pod, item.fieldRef.fieldPath)) }, undefined, 0o644);
  }
}

async function oneVolume(rest: Rest, pod: V1Pod, v: V1Volume, dir: string): Promise<HostVolume> {
  if (v.persistentVolumeClaim) return pvcVolume(rest, pod.metadata!.namespace!, v.persistentVolumeClaim.claimName, v.persistentVolumeClaim.readOnly ?? false);
  if (v.hostPath) return { path: v.hostPath.path, kind: 'dir', readOnly: false };
  mkdirSync(dir, { recursive: true });
  if (v.emptyDir) return { path: dir, kind: 'dir', readOnly: false };
  const ref = objectRef(v);
  if (ref) {
    await refFiles(rest, pod.metadata!.namespace!, { ...ref, mode: (v.secret ?? v.configMap)?.defaultMode }, dir);
    return { path: dir, kind: 'dir', readOnly: true };
  }
  if (v.projected || v.downwardAPI) {
    for (const src of v.projected?.sources ?? [{ downwardAPI: v.downwardAPI }]) await projectedFiles(rest, pod, src, dir);
    return { path: dir, kind: 'dir', readOnly: true };
  }
  throw new Error(`volume ${v.name}: this kind of volume is not supported by the local node agent`);
}

/** Prepares every volume of the pod under `podDir`; throws VolumeNotReady while one is missing. */
export async function prepareVolumes(rest: Rest, pod: V1Pod, podDir: string): Promise<Map<string, HostVolume>> {
  const out = new Map<string, HostVolume>();
  for (const v of pod.spec?.volumes ?? []) out.set(v.name, await oneVolume(rest, pod, v, join(podDir, 'volumes', v.name)));
  return out;
}
