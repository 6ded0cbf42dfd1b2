// The VirtualMachine a restore creates, as a pure function of the captured spec: the restored disks'
// volumes point at the new PVCs, the identity a guest or network would clash on (MAC addresses, the
// firmware UUID and serial) is dropped so KubeVirt generates fresh ones, and it runs only when asked.
import { Annotations, Labels, MANAGED_BY } from '../api/constants.ts';
import { KUBEVIRT, type VirtualMachine } from '../backup/kube/kubevirt.ts';
import type { RestorePlan, RestoreRef, RunState } from './ports.ts';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const objAt = (o: Json | undefined, key: string): Json | undefined => (isObj(o?.[key]) ? (o[key] as Json) : undefined);
const listAt = (o: Json | undefined, key: string): Json[] | undefined => (Array.isArray(o?.[key]) ? (o[key] as unknown[]).filter(isObj) : undefined);

function claimOf(v: Json): string | undefined {
  const pvc = objAt(v, 'persistentVolumeClaim');
  const dv = objAt(v, 'dataVolume');
  if (typeof pvc?.claimName === 'string') return pvc.claimName;
  return typeof dv?.name === 'string' ? dv.name : undefined;
}

/** Rewrites the template's volumes: restored disks onto their new PVCs, other PVC disks dropped. */
function rewriteVolumes(tspec: Json, plan: RestorePlan): string[] {
  const newClaim = new Map(plan.disks.map((d) => [d.name, d.pvcName]));
  const dropped: string[] = [];
  const volumes: Json[] = [];
  for (const v of listAt(tspec, 'volumes') ?? []) {
    const name = String(v.name);
    if (claimOf(v) === undefined) volumes.push(v);
    else if (newClaim.has(name)) volumes.push({ name, persistentVolumeClaim: { claimName: newClaim.get(name)! } });
    // A PVC disk not restored is left out: sharing the original's PVC would let two VMs write one disk.
    else dropped.push(name);
  }
  tspec.volumes = volumes;
  const devices = objAt(objAt(tspec, 'domain'), 'devices');
  const disks = listAt(devices, 'disks');
  if (devices && disks) devices.disks = disks.filter((d) => !dropped.includes(String(d.name)));
  return dropped;
}

/** Drops what identifies the original machine: interface MAC addresses, firmware UUID and serial. */
function stripIdentity(tspec: Json): void {
  const domain = objAt(tspec, 'domain');
  const firmware = objAt(domain, 'firmware');
  if (firmware) {
    delete firmware.uuid;
    delete firmware.serial;
  }
  for (const i of listAt(objAt(domain, 'devices'), 'interfaces') ?? []) delete i.macAddress;
}

/** The new VM and the PVC disks of the captured spec that were left out (not selected for restore). */
export function restoredVm(ref: RestoreRef, plan: RestorePlan): { vm: VirtualMachine; droppedDisks: string[] } {
  const spec = structuredClone(plan.vmSpec) as Json;
  // DataVolume templates would make CDI import or clone fresh disks; the restored PVCs replace them.
  delete spec.dataVolumeTemplates;
  delete spec.running;
  spec.runStrategy = plan.startVM ? 'Always' : 'Halted';
  const template = objAt(spec, 'template') ?? {};
  spec.template = template;
  const tspec = objAt(template, 'spec') ?? {};
  template.spec = tspec;
  const droppedDisks = rewriteVolumes(tspec, plan);
  stripIdentity(tspec);
  const vm: VirtualMachine = {
    apiVersion: `${KUBEVIRT.group}/${KUBEVIRT.version}`,
    kind: 'VirtualMachine',
    // No owner reference: the VM is the restore's result and must outlive the restore object.
    metadata: {
      name: plan.targetVMName, namespace: ref.namespace,
      labels: { [Labels.ManagedBy]: MANAGED_BY, [Labels.Restore]: ref.name },
      annotations: { [Annotations.RestoreUID]: ref.uid },
    },
    spec: spec as VirtualMachine['spec'],
  };
  return { vm, droppedDisks };
}

/** True when `vm` was created by the restore with this UID (so adopting it is safe). */
export function createdBy(vm: VirtualMachine, ref: RestoreRef): boolean {
  return vm.metadata?.annotations?.[Annotations.RestoreUID] === ref.uid;
}

/** InPlace: the VM's current volumes with each restored disk pointing at its new PVC (idempotent). */
export function swappedVolumes(current: VirtualMachine, plan: RestorePlan): Json[] {
  const tspec = objAt(objAt(current.spec as Json | undefined, 'template'), 'spec');
  const newClaim = new Map(plan.disks.map((d) => [d.name, d.pvcName]));
  return (listAt(tspec, 'volumes') ?? []).map((v) => {
    const claim = newClaim.get(String(v.name));
    return claim === undefined ? v : { name: v.name, persistentVolumeClaim: { claimName: claim } };
  });
}

/** InPlace: the merge patch of `spec` that starts the VM, or puts back the run state the restore found. */
export function runPatch(before: RunState | undefined, how: 'start' | 'asBefore'): Json {
  if (how === 'start') {
    const strategy = before?.wasRunning && before.runStrategy ? before.runStrategy : 'Always';
    return { running: null, runStrategy: strategy };
  }
  if (before?.running !== undefined) return { running: before.running, runStrategy: null };
  return { running: null, runStrategy: before?.runStrategy ?? 'Halted' };
}

/** InPlace: the run state as the restore's annotation records it (the VM's name with it), or undefined. */
export function parseRunState(text: string | undefined): (RunState & { vm: string }) | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<RunState & { vm: unknown }>;
    if (typeof v.vm !== 'string' || typeof v.wasRunning !== 'boolean') return undefined;
    return {
      vm: v.vm, wasRunning: v.wasRunning,
      ...(typeof v.running === 'boolean' ? { running: v.running } : {}),
      ...(typeof v.runStrategy === 'string' ? { runStrategy: v.runStrategy } : {}),
    };
  } catch {
    return undefined;
  }
}
