// KubeVirt's side (virt-controller and virt-handler): a VirtualMachine that should run gets a
// VirtualMachineInstance (owned by it, spec from its template); a VMI on this node is "running" once
// its PVCs are bound — a filesystem PVC gets the disk.img virt-launcher would create — and reports
// phase, nodeName, AgentConnected and guestOSInfo per the simulated guest, and volumeStatus; the
// freeze state (fsFreezeStatus) is written by whichever agent serves the freeze API. A VM that should
// stop loses its VMI.
import { closeSync, existsSync, openSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig, KubernetesObject, V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { Answer, VmAction } from './aggregated.ts';
import type { AgentConfig } from './config.ts';
import { quantityBytes } from './files.ts';
import type { FreezeState } from './freeze.ts';
import { guestOf, guestOSInfo } from './guest.ts';
import { errMsg, type Log } from './log.ts';
import { nodeLabels } from './node.ts';
import { ignoreNotFound, isStatus, type Rest } from './rest.ts';
import { vmAction } from './vmactions.ts';
import { watchResource, type Watched } from './watch.ts';

const API = '/apis/kubevirt.io/v1';

/** VMI annotation with the guest's recent freezes: JSON [{frozenAt, thawedAt?, thawedBy?: unfreeze|timeout}]. */
export const FREEZE_LOG_ANNOTATION = 'hack.tresor.io/freeze-log';
const RESYNC_MS = 2000;
const RUNNING_STRATEGIES = new Set(['Always', 'RerunOnFailure', 'Once']);

interface VmiSpec {
  nodeSelector?: Record<string, string>;
  volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string }; dataVolume?: { name: string } }>;
  domain?: { devices?: { disks?: Array<{ name: string }> } };
}

/** A VirtualMachine as far as the stand-in reads it. */
export interface VirtualMachine extends KubernetesObject {
  spec?: { running?: boolean; runStrategy?: string; template?: { metadata?: KubernetesObject['metadata']; spec?: VmiSpec } };
  status?: Record<string, unknown>;
}

/** A VirtualMachineInstance as far as the stand-in reads it. */
export interface VirtualMachineInstance extends KubernetesObject {
  spec?: VmiSpec;
  status?: Record<string, unknown> & { nodeName?: string };
}

/** Whether a VM should have a running instance (pure). */
export function wantsRunning(vm: VirtualMachine): boolean {
  return vm.spec?.running === true || RUNNING_STRATEGIES.has(vm.spec?.runStrategy ?? '');
}

function key(o: KubernetesObject): string {
  return `${o.metadata?.namespace}/${o.metadata?.name}`;
}

/** Plays virt-controller and virt-handler for the VMs this node runs. */
export class KubeVirt {
  private readonly cfg: AgentConfig;
  private readonly rest: Rest;
  private readonly log: Log;
  private readonly freezes: FreezeState;
  private vms: Watched<VirtualMachine> | undefined;
  private vmis: Watched<VirtualMachineInstance> | undefined;
  private stops: Array<() => Promise<void>> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly written = new Map<string, string>();
  private readonly freezeWrites = new Map<string, Promise<void>>();
  // A running VMI's volumes, by VMI uid, once all were bound: a bound claim's volume cannot change, so the
  // 2 s resync need not GET every PVC and PV of every VM again (it was ~100 requests/s at 100 VMs).
  private readonly boundVolumes = new Map<string, Array<Record<string, unknown>>>();

  constructor(deps: { cfg: AgentConfig; rest: Rest; log: Log; freezes: FreezeState }) {
    this.cfg = deps.cfg;
    this.rest = deps.rest;
    this.log = deps.log;
    this.freezes = deps.freezes;
  }

  /** Watches VMs and VMIs; everything is re-checked every 2 s (PVCs binding, guest annotations changing). */
  start(kc: KubeConfig): void {
    const ctx = { kc, rest: this.rest, log: this.log };
    const vms = watchResource<VirtualMachine>(ctx, `${API}/virtualmachines`, { onChange: (vm) => this.onVm(vm) });
    const vmis = watchResource<VirtualMachineInstance>(ctx, `${API}/virtualmachineinstances`, {
      onChange: (vmi) => this.onVmi(vmi),
      onDelete: (vmi) => {
        this.freezes.forget(key(vmi));
        this.freezeWrites.delete(key(vmi));
        this.boundVolumes.delete(vmi.metadata?.uid ?? '');
      },
    });
    this.vms = vms.informer;
    this.vmis = vmis.informer;
    this.stops = [vms.stop, vmis.stop];
    this.timer = setInterval(() => this.resync(), RESYNC_MS);
  }

  /** Stops the watches. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.stops.map((s) => s()));
  }

  /**
   * Writes a VMI's freeze state (status.fsFreezeStatus, absent when thawed as KubeVirt omits it, and the
   * freeze-log annotation). Done by the agent that serves the freeze API, whichever agent runs the VMI;
   * writes for one VMI go out in order. Resolves when this write is done.
   */
  publishFreeze(ns: string, name: string): Promise<void> {
    const k = `${ns}/${name}`;
    const path = `${API}/namespaces/${ns}/virtualmachineinstances/${name}`;
    const write = async (): Promise<void> => {
      const frozen = this.freezes.isFrozen(k);
      await this.rest.mergePatch(`${path}/status`, { status: { fsFreezeStatus: frozen ? 'frozen' : null } });
      await this.rest.mergePatch(path, { metadata: { annotations: { [FREEZE_LOG_ANNOTATION]: JSON.stringify(this.freezes.records(k)) } } });
    };
    const next = (this.freezeWrites.get(k) ?? Promise.resolve()).then(write).catch((err: unknown) => {
      if (!isStatus(err, 404)) this.log.warn(`freeze state of vmi ${k}: ${errMsg(err)}`);
    });
    this.freezeWrites.set(k, next);
    return next;
  }

  /** The cached VMI and its VM (for the freeze API). */
  lookup(ns: string, name: string): { vmi: VirtualMachineInstance | undefined; vm: VirtualMachine | undefined } {
    return { vmi: this.vmis?.get(name, ns), vm: this.vms?.get(name, ns) };
  }

  /** virt-api's start/stop/restart of a VM (see vmactions.ts). */
  vmAction(ns: string, name: string, action: VmAction): Promise<Answer> {
    const { vm, vmi } = this.lookup(ns, name);
    return vmAction(this.rest, action, vm, vmi);
  }

  private resync(): void {
    for (const vm of this.vms?.list() ?? []) this.onVm(vm);
    for (const vmi of this.vmis?.list() ?? []) this.onVmi(vmi);
  }

  private selects(spec: VmiSpec | undefined): boolean {
    const selector = spec?.nodeSelector ?? {};
    if (this.cfg.schedule === 'selected' && selector['kubernetes.io/hostname'] !== this.cfg.nodeName) return false;
    const labels = nodeLabels(this.cfg.nodeName);
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
  }

  private onVm(vm: VirtualMachine): void {
    if (vm.metadata?.deletionTimestamp || !this.selects(vm.spec?.template?.spec)) return;
    this.syncVm(vm).catch((err: unknown) => this.log.warn(`vm ${key(vm)}: ${errMsg(err)}`));
  }

  private async syncVm(vm: VirtualMachine): Promise<void> {
    const ns = vm.metadata!.namespace!;
    const name = vm.metadata!.name!;
    const vmi = this.vmis?.get(name, ns);
    const running = wantsRunning(vm);
    if (running && !vmi) {
      await this.rest.create(`${API}/namespaces/${ns}/virtualmachineinstances`, vmiFor(vm)).catch((err: unknown) => {
        if (!isStatus(err, 409)) throw err;
      });
      this.log.info(`started vmi ${ns}/${name}`);
    } else if (!running && vmi && !vmi.metadata?.deletionTimestamp) {
      await ignoreNotFound(() => this.rest.del(`${API}/namespaces/${ns}/virtualmachineinstances/${name}`));
      this.log.info(`stopped vmi ${ns}/${name}`);
    }
    await this.writeStatus(vm, `${API}/namespaces/${ns}/virtualmachines/${name}`, vmStatus(running, vmi));
  }

  /** Patches status unless this agent already wrote exactly that to this object (by uid). */
  private async writeStatus(obj: KubernetesObject, path: string, status: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify(status);
    const uid = obj.metadata!.uid!;
    if (this.written.get(uid) === text) return;
    await this.rest.mergePatch(`${path}/status`, { status });
    this.written.set(uid, text);
  }

  private onVmi(vmi: VirtualMachineInstance): void {
    if (vmi.metadata?.deletionTimestamp || !this.selects(vmi.spec)) return;
    if (vmi.status?.nodeName && vmi.status.nodeName !== this.cfg.nodeName) return;
    this.syncVmi(vmi).catch((err: unknown) => this.log.warn(`vmi ${key(vmi)}: ${errMsg(err)}`));
  }

  private async boundClaim(ns: string, claimName: string): Promise<{ pvc: V1PersistentVolumeClaim; pv: V1PersistentVolume } | undefined> {
    const pvc = await this.rest.get<V1PersistentVolumeClaim>(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${claimName}`).catch(() => undefined);
    if (pvc?.status?.phase !== 'Bound' || !pvc.spec?.volumeName) return undefined;
    return { pvc, pv: await this.rest.get<V1PersistentVolume>(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`) };
  }

  /** Each PVC volume's status entry, or undefined while one is not bound. */
  private async volumeStatus(vmi: VirtualMachineInstance): Promise<Array<Record<string, unknown>> | undefined> {
    const uid = vmi.metadata?.uid ?? '';
    const out = this.boundVolumes.get(uid) ?? await this.readVolumes(vmi);
    if (out && uid) this.boundVolumes.set(uid, out);
    return out;
  }

  private async readVolumes(vmi: VirtualMachineInstance): Promise<Array<Record<string, unknown>> | undefined> {
    const ns = vmi.metadata!.namespace!;
    const out: Array<Record<string, unknown>> = [];
    const disks = vmi.spec?.domain?.devices?.disks ?? [];
    for (const v of vmi.spec?.volumes ?? []) {
      const claimName = v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name;
      if (!claimName) continue;
      const bound = await this.boundClaim(ns, claimName);
      if (!bound) return undefined;
      const entry = volumeEntry({ name: v.name, claimName, ...bound, index: disks.findIndex((d) => d.name === v.name) });
      if (entry.fsDir) ensureDiskImage(entry.fsDir, quantityBytes(entry.capacity));
      out.push(entry.status);
    }
    return out;
  }

  private async syncVmi(vmi: VirtualMachineInstance): Promise<void> {
    const ns = vmi.metadata!.namespace!;
    const name = vmi.metadata!.name!;
    const volumeStatus = await this.volumeStatus(vmi);
    const guest = guestOf(vmi.metadata?.annotations, this.vms?.get(name, ns)?.metadata?.annotations);
    const running = volumeStatus !== undefined;
    const agent = running && guest.agent;
    const status = {
      phase: running ? 'Running' : 'Scheduling',
      nodeName: this.cfg.nodeName,
      conditions: [condition('Ready', running, 'PersistentVolumeClaimNotBound'), condition('AgentConnected', agent, 'GuestAgentNotConnected')],
      guestOSInfo: agent ? guestOSInfo(guest) : {},
      volumeStatus: volumeStatus ?? [],
    };
    await this.writeStatus(vmi, `${API}/namespaces/${ns}/virtualmachineinstances/${name}`, status);
  }
}

function condition(type: string, ok: boolean, reasonIfNot: string): Record<string, string> {
  return { type, status: ok ? 'True' : 'False', ...(ok ? {} : { reason: reasonIfNot }) };
}

/** The VMI virt-controller creates for a VM: template metadata and spec, owned by the VM. */
export function vmiFor(vm: VirtualMachine): VirtualMachineInstance {
  const tmpl = vm.spec?.template;
  const { name, namespace, uid } = vm.metadata!;
  return {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance',
    metadata: {
      name, namespace, labels: tmpl?.metadata?.labels, annotations: tmpl?.metadata?.annotations,
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: name!, uid: uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec: tmpl?.spec ?? {},
  };
}

function vmStatus(running: boolean, vmi: VirtualMachineInstance | undefined): Record<string, unknown> {
  const ready = running && vmi?.status?.phase === 'Running';
  const printable = ready ? 'Running' : running ? 'Starting' : 'Stopped';
  return { printableStatus: printable, ready, created: !!vmi };
}

function volumeEntry(v: { name: string; claimName: string; pvc: V1PersistentVolumeClaim; pv: V1PersistentVolume; index: number }): {
  capacity: string;
  fsDir: string | undefined;
  status: Record<string, unknown>;
} {
  const fsDir = v.pv.spec?.volumeMode !== 'Block' ? v.pv.spec?.csi?.volumeHandle : undefined;
  const capacity = v.pvc.status?.capacity?.storage ?? v.pv.spec?.capacity?.storage ?? '0';
  const status = {
    name: v.name, target: `vd${String.fromCharCode(97 + Math.max(0, v.index))}`, phase: 'Ready', reason: 'VolumeReady',
    persistentVolumeClaimInfo: { claimName: v.claimName, volumeMode: v.pv.spec?.volumeMode ?? 'Filesystem', accessModes: v.pvc.spec?.accessModes, capacity: { storage: capacity } },
  };
  return { capacity, fsDir, status };
}

/** virt-launcher's disk.img in a filesystem PVC: created sparse at the PVC's size when missing. */
export function ensureDiskImage(dir: string, bytes: number): void {
  const img = join(dir, 'disk.img');
  if (existsSync(img) || !existsSync(dir) || !statSync(dir).isDirectory()) return;
  closeSync(openSync(img, 'w'));
  truncateSync(img, bytes);
}
