// The CSI stand-in's provisioner side, for driver local.csi.tresor.io: a default StorageClass, a PV per
// PVC of that class (backed by a file for Block mode, a directory for Filesystem mode, under the state
// dir; filled from a VolumeSnapshot or another PVC when the PVC has a dataSource), and removal of the
// bytes when a PV of reclaim policy Delete is released. kube-controller-manager's PV controller binds
// the PVC to the PV we create with claimRef set, as it does for external provisioners. Which agent
// provisions a claim: consumers.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig, V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { AgentConfig } from './config.ts';
import { lookupClaimNode, provisionsFor } from './consumers.ts';
import { copyVolume, createVolume, growTo, ownedBy, quantityBytes, removeVolume } from './files.ts';
import { errMsg, type Log } from './log.ts';
import { ignoreNotFound, isStatus, type Rest } from './rest.ts';
import { CSI_DRIVER } from './volumes.ts';
import { watchResource, type Watched } from './watch.ts';

/** The StorageClass (and VolumeSnapshotClass) the agent installs, marked as the cluster default. */
export const STORAGE_CLASS = 'tresor-local';
const RESYNC_MS = 1000;

/** A VolumeSnapshot's content handle (the snapshot's path), or a reason why it cannot be used yet. */
export type SnapshotSource = (ns: string, name: string) => Promise<string>;

/** Creates the StorageClass and VolumeSnapshotClass unless they exist. */
export async function ensureClasses(rest: Rest): Promise<void> {
  const create = async (path: string, body: unknown): Promise<void> => {
    try {
      await rest.create(path, body);
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
  };
  await create('/apis/storage.k8s.io/v1/storageclasses', {
    apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass',
    metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: CSI_DRIVER, reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate', allowVolumeExpansion: false,
  });
  await create('/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses', {
    apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass',
    metadata: { name: STORAGE_CLASS, annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' } },
    driver: CSI_DRIVER, deletionPolicy: 'Delete',
  });
}

/** The PV for a claim, pre-bound to it (claimRef), backed by `path`. */
export function pvFor(pvc: V1PersistentVolumeClaim, v: { name: string; path: string; size: string }): V1PersistentVolume {
  const { namespace, name, uid } = pvc.metadata!;
  return {
    apiVersion: 'v1', kind: 'PersistentVolume',
    metadata: { name: v.name, annotations: { 'pv.kubernetes.io/provisioned-by': CSI_DRIVER } },
    spec: {
      capacity: { storage: v.size }, accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'], volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
      persistentVolumeReclaimPolicy: 'Delete', storageClassName: STORAGE_CLASS,
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name, uid },
      csi: { driver: CSI_DRIVER, volumeHandle: v.path },
    },
  };
}

function wantsVolume(pvc: V1PersistentVolumeClaim): boolean {
  return !pvc.spec?.volumeName && !pvc.metadata?.deletionTimestamp && (pvc.spec?.storageClassName ?? STORAGE_CLASS) === STORAGE_CLASS;
}

/** Provisions and deletes volumes of the local driver. */
export class Provisioner {
  private readonly cfg: AgentConfig;
  private readonly rest: Rest;
  private readonly log: Log;
  private readonly snapshotPath: SnapshotSource;
  private readonly inFlight = new Set<string>();
  private readonly failures = new Map<string, string>();
  private stops: Array<() => Promise<void>> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(deps: { cfg: AgentConfig; rest: Rest; log: Log; snapshotPath: SnapshotSource }) {
    this.cfg = deps.cfg;
    this.rest = deps.rest;
    this.log = deps.log;
    this.snapshotPath = deps.snapshotPath;
  }

  /** Watches PVCs and PVs; PVCs waiting for a snapshot are retried every second. */
  start(kc: KubeConfig): void {
    const ctx = { kc, rest: this.rest, log: this.log };
    const pvcs = watchResource<V1PersistentVolumeClaim>(ctx, '/api/v1/persistentvolumeclaims', { onChange: (c) => this.onClaim(c) });
    const pvs = watchResource<V1PersistentVolume>(ctx, '/api/v1/persistentvolumes', { onChange: (v) => this.onVolume(v) });
    this.stops = [pvcs.stop, pvs.stop];
    this.timer = setInterval(() => this.resync(pvcs.informer), RESYNC_MS);
  }

  /** Stops the watches. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.stops.map((s) => s()));
  }

  private resync(informer: Watched<V1PersistentVolumeClaim>): void {
    for (const c of informer.list()) if (wantsVolume(c)) this.onClaim(c);
  }

  private onClaim(pvc: V1PersistentVolumeClaim): void {
    const uid = pvc.metadata!.uid!;
    if (!wantsVolume(pvc) || this.inFlight.has(uid)) return;
    this.inFlight.add(uid);
    this.provision(pvc)
      .then(() => this.failures.delete(uid))
      .catch((err: unknown) => {
        const msg = errMsg(err);
        if (this.failures.get(uid) !== msg) this.log.warn(`provisioning ${pvc.metadata?.namespace}/${pvc.metadata?.name}: ${msg}`);
        this.failures.set(uid, msg);
      })
      .finally(() => this.inFlight.delete(uid));
  }

  /** Where the claim's initial bytes come from: a snapshot's or another claim's path, or nothing (empty). */
  private async sourceOf(pvc: V1PersistentVolumeClaim): Promise<string | undefined> {
    const ns = pvc.metadata!.namespace!;
    const src = pvc.spec?.dataSourceRef ?? pvc.spec?.dataSource;
    if (src?.kind === 'VolumeSnapshot') return this.snapshotPath(ns, src.name);
    if (src?.kind !== 'PersistentVolumeClaim') return undefined;
    const from = await this.rest.get<V1PersistentVolumeClaim>(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${src.name}`);
    if (!from.spec?.volumeName) throw new Error(`source claim ${src.name} is not bound yet`);
    const pv = await this.rest.get<V1PersistentVolume>(`/api/v1/persistentvolumes/${from.spec.volumeName}`);
    return pv.spec!.csi!.volumeHandle;
  }

  /**
   * Fills the new volume; false when the claim is another agent's: a copy is made by the agent that
   * holds the source bytes, an empty volume by the agent whose node the claim is pinned to.
   */
  private async fill(pvc: V1PersistentVolumeClaim, path: string, bytes: number): Promise<boolean> {
    const block = pvc.spec?.volumeMode === 'Block';
    const source = await this.sourceOf(pvc);
    if (source && !ownedBy(this.cfg.stateDir, source)) return false;
    if (!source && !provisionsFor(await lookupClaimNode(this.rest, pvc), this.cfg.nodeName, this.cfg.schedule)) return false;
    if (source) await copyVolume(source, path);
    else createVolume(path, block ? 'file' : 'dir', bytes);
    if (block) growTo(path, bytes);
    return true;
  }

  private async provision(pvc: V1PersistentVolumeClaim): Promise<void> {
    const name = `pvc-${pvc.metadata!.uid}`;
    const block = pvc.spec?.volumeMode === 'Block';
    const path = join(this.cfg.stateDir, 'volumes', block ? `${name}.img` : name);
    const size = pvc.spec?.resources?.requests?.storage ?? '1Gi';
    // Provisioned before, and the PV controller has not bound the claim yet: nothing to do.
    if (await this.rest.get(`/api/v1/persistentvolumes/${name}`).then(() => true, () => false)) return;
    if (!(await this.fill(pvc, path, quantityBytes(size)))) return;
    const pv = pvFor(pvc, { name, path, size });
    try {
      await this.rest.create('/api/v1/persistentvolumes', pv);
      this.log.info(`provisioned ${name} for ${pvc.metadata?.namespace}/${pvc.metadata?.name} at ${path}`);
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      removeVolume(path); // another agent provisioned it first
    }
  }

  private onVolume(pv: V1PersistentVolume): void {
    if (pv.metadata?.deletionTimestamp || pv.spec?.csi?.driver !== CSI_DRIVER) return;
    if (pv.status?.phase !== 'Released' || pv.spec.persistentVolumeReclaimPolicy !== 'Delete') return;
    // Bytes are deleted by the agent that holds them; a PV whose bytes are gone with a stopped agent's
    // state dir is only a dangling record, which any agent removes.
    const path = pv.spec.csi.volumeHandle;
    if (!ownedBy(this.cfg.stateDir, path) && existsSync(path)) return;
    const name = pv.metadata!.name!;
    removeVolume(path);
    ignoreNotFound(() => this.rest.del(`/api/v1/persistentvolumes/${name}`))
      .then(() => this.log.info(`deleted released volume ${name}`))
      .catch((err: unknown) => this.log.warn(`deleting volume ${name}: ${errMsg(err)}`));
  }
}
