// The CSI stand-in's snapshotter side (what snapshot-controller and csi-snapshotter do together): a
// VolumeSnapshot of a PVC of the local driver is cut as a file copy of the volume, a
// VolumeSnapshotContent is created for it and both report readyToUse, restoreSize and creationTime.
// Deleting the VolumeSnapshot deletes the content and the bytes when the deletionPolicy is Delete (a
// finalizer holds the object until then, as snapshot-controller's does).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig, KubernetesObject, V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { AgentConfig } from './config.ts';
import { copyVolume, ownedBy, removeVolume } from './files.ts';
import { errMsg, type Log } from './log.ts';
import { ignoreNotFound, isStatus, type Rest } from './rest.ts';
import { STORAGE_CLASS } from './storage.ts';
import { CSI_DRIVER } from './volumes.ts';
import { watchResource, type Watched } from './watch.ts';

const API = '/apis/snapshot.storage.k8s.io/v1';
const FINALIZER = 'local.csi.tresor.io/snapshot-protection';
const RESYNC_MS = 1000;

/** A VolumeSnapshot, as far as the stand-in reads it. */
export interface VolumeSnapshot extends KubernetesObject {
  spec?: { source?: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string }; volumeSnapshotClassName?: string };
  status?: { boundVolumeSnapshotContentName?: string; readyToUse?: boolean; restoreSize?: string; creationTime?: string; error?: unknown };
}

interface Content extends KubernetesObject {
  spec?: { deletionPolicy?: string; driver?: string };
  status?: { snapshotHandle?: string; readyToUse?: boolean };
}

function snapPath(ns: string, name: string): string {
  return `${API}/namespaces/${ns}/volumesnapshots/${name}`;
}

/** The snapshot's source claim does not exist. */
class SourceMissing extends Error {}

/** What the snapshotter has to do for a VolumeSnapshot, if anything (pure). */
export function snapshotWork(vs: VolumeSnapshot): 'cut' | 'remove' | undefined {
  const ours = (vs.spec?.volumeSnapshotClassName ?? STORAGE_CLASS) === STORAGE_CLASS && !!vs.spec?.source?.persistentVolumeClaimName;
  if (!ours) return undefined;
  if (vs.metadata?.deletionTimestamp) return vs.metadata.finalizers?.includes(FINALIZER) ? 'remove' : undefined;
  return vs.status?.readyToUse ? undefined : 'cut';
}

/** Cuts and deletes snapshots of the local driver's volumes. */
export class Snapshotter {
  private readonly cfg: AgentConfig;
  private readonly rest: Rest;
  private readonly log: Log;
  private readonly inFlight = new Set<string>();
  private stops: Array<() => Promise<void>> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(deps: { cfg: AgentConfig; rest: Rest; log: Log }) {
    this.cfg = deps.cfg;
    this.rest = deps.rest;
    this.log = deps.log;
  }

  /** Watches VolumeSnapshots; ones whose source is not ready yet are retried every second. */
  start(kc: KubeConfig): void {
    const w = watchResource<VolumeSnapshot>({ kc, rest: this.rest, log: this.log }, `${API}/volumesnapshots`, { onChange: (s) => this.onSnapshot(s) });
    this.stops = [w.stop];
    this.timer = setInterval(() => this.resync(w.informer), RESYNC_MS);
  }

  /** Stops the watch. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.stops.map((s) => s()));
  }

  /** The path of a ready snapshot's bytes (for PVCs restored from it); throws while it is not ready. */
  readonly pathOf = async (ns: string, name: string): Promise<string> => {
    const vs = await this.rest.get<VolumeSnapshot>(snapPath(ns, name));
    const contentName = vs.status?.boundVolumeSnapshotContentName;
    if (!vs.status?.readyToUse || !contentName) throw new Error(`VolumeSnapshot ${ns}/${name} is not ready to use`);
    const content = await this.rest.get<Content>(`${API}/volumesnapshotcontents/${contentName}`);
    const handle = content.status?.snapshotHandle;
    if (!handle || content.spec?.driver !== CSI_DRIVER) throw new Error(`VolumeSnapshotContent ${contentName} is not of ${CSI_DRIVER}`);
    return handle;
  };

  private resync(informer: Watched<VolumeSnapshot>): void {
    for (const s of informer.list()) if (!s.status?.readyToUse || s.metadata?.deletionTimestamp) this.onSnapshot(s);
  }

  private onSnapshot(vs: VolumeSnapshot): void {
    const uid = vs.metadata!.uid!;
    const work = snapshotWork(vs);
    if (!work || this.inFlight.has(uid)) return;
    this.inFlight.add(uid);
    (work === 'remove' ? this.remove(vs) : this.cut(vs))
      .catch((err: unknown) => this.log.warn(`snapshot ${vs.metadata?.namespace}/${vs.metadata?.name}: ${errMsg(err)}`))
      .finally(() => this.inFlight.delete(uid));
  }

  private async sourceVolume(ns: string, claim: string): Promise<V1PersistentVolume | undefined> {
    const pvc = await this.rest.get<V1PersistentVolumeClaim>(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${claim}`).catch((err: unknown) => {
      if (isStatus(err, 404)) throw new SourceMissing(`failed to take snapshot: persistentvolumeclaim "${claim}" not found`);
      return undefined;
    });
    if (pvc?.status?.phase !== 'Bound' || !pvc.spec?.volumeName) return undefined;
    const pv = await this.rest.get<V1PersistentVolume>(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`);
    return pv.spec?.csi?.driver === CSI_DRIVER ? pv : undefined;
  }

  /** Reports a snapshot that cannot be cut in status.error, as snapshot-controller does (retried meanwhile). */
  private async reportError(vs: VolumeSnapshot, message: string): Promise<void> {
    if ((vs.status?.error as { message?: string } | undefined)?.message === message) return;
    const status = { readyToUse: false, error: { message, time: new Date().toISOString() } };
    await this.rest.mergePatch(`${snapPath(vs.metadata!.namespace!, vs.metadata!.name!)}/status`, { status });
  }

  private async cut(vs: VolumeSnapshot): Promise<void> {
    try {
      await this.cutFromSource(vs);
    } catch (err) {
      if (!(err instanceof SourceMissing)) throw err;
      await this.reportError(vs, err.message);
    }
  }

  private async cutFromSource(vs: VolumeSnapshot): Promise<void> {
    const ns = vs.metadata!.namespace!;
    const name = vs.metadata!.name!;
    const pv = await this.sourceVolume(ns, vs.spec!.source!.persistentVolumeClaimName!);
    if (!pv) return; // not bound yet (or not of our driver): retried by the resync
    if (!ownedBy(this.cfg.stateDir, pv.spec!.csi!.volumeHandle)) return; // the agent that holds the volume cuts it
    if (!vs.metadata?.finalizers?.includes(FINALIZER)) {
      await this.rest.mergePatch(snapPath(ns, name), { metadata: { finalizers: [...(vs.metadata?.finalizers ?? []), FINALIZER] } });
    }
    const contentName = `snapcontent-${vs.metadata!.uid}`;
    const block = pv.spec!.volumeMode === 'Block';
    const handle = join(this.cfg.stateDir, 'snapshots', block ? `${contentName}.img` : contentName);
    const existing = await this.rest.get<Content>(`${API}/volumesnapshotcontents/${contentName}`).catch(() => undefined);
    if (!existing) {
      await copyVolume(pv.spec!.csi!.volumeHandle, handle);
      await this.createContent(vs, { contentName, handle, pv });
    }
    const restoreSize = pv.spec!.capacity?.storage ?? `${statSync(handle).size}`;
    const creationTime = new Date().toISOString();
    await this.rest.mergePatch(`${snapPath(ns, name)}/status`, {
      status: { boundVolumeSnapshotContentName: contentName, readyToUse: true, restoreSize, creationTime, error: null },
    });
    this.log.info(`snapshot ${ns}/${name} of ${pv.metadata?.name} ready (${contentName})`);
  }

  private async createContent(vs: VolumeSnapshot, c: { contentName: string; handle: string; pv: V1PersistentVolume }): Promise<void> {
    const cls = await this.rest.get<{ deletionPolicy?: string }>(`${API}/volumesnapshotclasses/${vs.spec?.volumeSnapshotClassName ?? STORAGE_CLASS}`);
    const body = {
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotContent', metadata: { name: c.contentName },
      spec: {
        deletionPolicy: cls.deletionPolicy ?? 'Delete', driver: CSI_DRIVER, volumeSnapshotClassName: vs.spec?.volumeSnapshotClassName ?? STORAGE_CLASS,
        source: { volumeHandle: c.pv.spec!.csi!.volumeHandle }, sourceVolumeMode: c.pv.spec!.volumeMode ?? 'Filesystem',
        volumeSnapshotRef: { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', namespace: vs.metadata!.namespace, name: vs.metadata!.name, uid: vs.metadata!.uid },
      },
    };
    try {
      await this.rest.create(`${API}/volumesnapshotcontents`, body);
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
    const size = statSync(c.handle).isFile() ? statSync(c.handle).size : 0;
    await this.rest.mergePatch(`${API}/volumesnapshotcontents/${c.contentName}/status`, {
      status: { snapshotHandle: c.handle, readyToUse: true, restoreSize: size, creationTime: Date.now() * 1e6 },
    });
  }

  /** Deletes a snapshot's content and bytes per its deletionPolicy; false when another agent holds the bytes. */
  private async removeContent(contentName: string): Promise<boolean> {
    const content = await this.rest.get<Content>(`${API}/volumesnapshotcontents/${contentName}`).catch(() => undefined);
    const handle = content?.status?.snapshotHandle;
    // The agent that holds the bytes deletes them; bytes gone with a stopped agent's state dir leave
    // only records, which any agent removes (else the namespace would hang on the finalizer).
    if (handle && !ownedBy(this.cfg.stateDir, handle) && existsSync(handle)) return false;
    if (content?.spec?.deletionPolicy === 'Delete') {
      if (handle) removeVolume(handle);
      await ignoreNotFound(() => this.rest.del(`${API}/volumesnapshotcontents/${contentName}`));
    }
    return true;
  }

  private async remove(vs: VolumeSnapshot): Promise<void> {
    const ns = vs.metadata!.namespace!;
    const contentName = vs.status?.boundVolumeSnapshotContentName;
    if (contentName && !(await this.removeContent(contentName))) return;
    const finalizers = (vs.metadata?.finalizers ?? []).filter((f) => f !== FINALIZER);
    await ignoreNotFound(() => this.rest.mergePatch(snapPath(ns, vs.metadata!.name!), { metadata: { finalizers } }));
    this.log.info(`snapshot ${ns}/${vs.metadata?.name} deleted (content ${contentName ?? 'none'})`);
  }

}
