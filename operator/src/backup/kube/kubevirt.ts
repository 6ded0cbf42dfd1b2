// What Tresor reads from KubeVirt's objects (kubevirt.io/v1 VirtualMachine and VirtualMachineInstance),
// as pure functions over their JSON: the VM's PVC-backed disks and the guest as its VMI reports it.
import type { KubernetesObject } from '@kubernetes/client-node';

/** The KubeVirt API group/version the operator reads VMs and VMIs from. */
export const KUBEVIRT = { group: 'kubevirt.io', version: 'v1', vms: 'virtualmachines', vmis: 'virtualmachineinstances' } as const;

/** One volume of a VM template. */
export interface KubevirtVolume {
  readonly name: string;
  readonly persistentVolumeClaim?: { readonly claimName: string };
  readonly dataVolume?: { readonly name: string };
}

/** A VirtualMachine, as far as Tresor reads it. */
export interface VirtualMachine extends KubernetesObject {
  spec?: {
    running?: boolean;
    runStrategy?: string;
    template?: { spec?: { volumes?: KubevirtVolume[]; domain?: { devices?: { disks?: Array<{ name: string }> } } } };
  };
}

/** A VirtualMachineInstance, as far as Tresor reads it. */
export interface VirtualMachineInstance extends KubernetesObject {
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    guestOSInfo?: { id?: string };
  };
}

/** A disk of the VM backed by a PVC: the volume's name and the claim (a DataVolume's PVC has its name). */
export interface VmVolumeClaim {
  readonly name: string;
  readonly claimName: string;
}

function claimOf(v: KubevirtVolume): string | undefined {
  return v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name;
}

/** The VM's PVC-backed volumes that are attached as disks, in the template's order. */
export function vmVolumeClaims(vm: VirtualMachine): VmVolumeClaim[] {
  const spec = vm.spec?.template?.spec;
  const disks = new Set((spec?.domain?.devices?.disks ?? []).map((d) => d.name));
  const out: VmVolumeClaim[] = [];
  for (const v of spec?.volumes ?? []) {
    // cloudInit, containerDisk and similar volumes are regenerated from the spec; only PVCs hold state.
    const claimName = claimOf(v);
    if (claimName !== undefined && (disks.size === 0 || disks.has(v.name))) out.push({ name: v.name, claimName });
  }
  return out;
}

/** The guest as the VMI reports it (a missing VMI is a stopped VM). */
export function guestOf(vmi: VirtualMachineInstance | undefined): { running: boolean; agentConnected: boolean; os: 'linux' | 'windows' | 'unknown' } {
  if (vmi === undefined || vmi.status?.phase !== 'Running') return { running: false, agentConnected: false, os: 'unknown' };
  const agent = vmi.status.conditions?.find((c) => c.type === 'AgentConnected');
  const id = vmi.status.guestOSInfo?.id;
  const os = id === undefined || id === '' ? 'unknown' : id === 'mswindows' ? 'windows' : 'linux';
  return { running: true, agentConnected: agent?.status === 'True', os };
}
