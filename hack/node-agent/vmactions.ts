// virt-api's start, stop and restart of a VirtualMachine: start and stop change what the VM asks for
// (spec.running, or runStrategy Always/Halted), the controller then creates or deletes the VMI;
// restart deletes the VMI so that the controller starts a new one. 409 when there is nothing to do.
import { failure, type Answer, type VmAction } from './aggregated.ts';
import type { VirtualMachine, VirtualMachineInstance } from './kubevirt.ts';
import { ignoreNotFound, type Rest } from './rest.ts';

const API = '/apis/kubevirt.io/v1';

function conflict(name: string, why: string): Answer {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on virtualmachine.kubevirt.io "${name}": ${why}`);
}

/** The spec change that makes a VM run or stop, in the field the VM already uses. */
export function runPatch(vm: VirtualMachine, run: boolean): Record<string, unknown> {
  if (vm.spec?.running !== undefined) return { spec: { running: run } };
  return { spec: { runStrategy: run ? 'Always' : 'Halted' } };
}

/** Carries out start, stop or restart for a VM (vmi: its current instance, if any). */
export async function vmAction(rest: Rest, action: VmAction, vm: VirtualMachine | undefined, vmi: VirtualMachineInstance | undefined): Promise<Answer> {
  if (!vm) return failure(404, 'NotFound', 'virtualmachine.kubevirt.io not found');
  const { name, namespace } = vm.metadata!;
  const path = `${API}/namespaces/${namespace}/virtualmachines/${name}`;
  const running = vmi !== undefined && !vmi.metadata?.deletionTimestamp;
  if (action === 'start') {
    if (running) return conflict(name!, 'VM is already running');
    await rest.mergePatch(path, runPatch(vm, true));
  } else if (action === 'stop') {
    if (!running && vm.spec?.runStrategy === 'Halted') return conflict(name!, 'VM is not running');
    await rest.mergePatch(path, runPatch(vm, false));
  } else {
    if (!running) return conflict(name!, 'VM is not running');
    await ignoreNotFound(() => rest.del(`${API}/namespaces/${namespace}/virtualmachineinstances/${name}`));
  }
  return { code: 202, body: {} };
}
