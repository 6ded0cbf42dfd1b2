// What an in-place restore does to the original VirtualMachine: stop it (runStrategy Halted) and wait
// until its VMI is gone, point its restored volumes at the new PVCs with a resourceVersion
// precondition, and start it again or put back the run state it had. Nothing here deletes anything.
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { readOrUndefined } from '../../backup/kube/client.ts';
import { KUBEVIRT, type VirtualMachine } from '../../backup/kube/kubevirt.ts';
import { isConflict, isNotFound } from '../../runtime/errors.ts';
import type { RestorePlan, RestoreRef, RunState } from '../ports.ts';
import { runPatch, swappedVolumes } from '../vm.ts';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The VM operations of an in-place restore, against the real API. */
export class VmOps {
  private readonly custom: CustomObjectsApi;
  private readonly stopTimeoutMs: number;

  constructor(kc: KubeConfig, stopTimeoutMs: number) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.stopTimeoutMs = stopTimeoutMs;
  }

  private params(ref: RestoreRef, plural: string, name: string): { group: string; version: string; plural: string; namespace: string; name: string } {
    return { group: KUBEVIRT.group, version: KUBEVIRT.version, plural, namespace: ref.namespace, name };
  }

  private async patchSpec(ref: RestoreRef, vmName: string, spec: Record<string, unknown>, resourceVersion?: string): Promise<void> {
    const body = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), spec };
    await this.custom.patchNamespacedCustomObject({ ...this.params(ref, KUBEVIRT.vms, vmName), body }, MERGE_PATCH);
  }

  /** Halts the VM and waits until its VMI is gone; throws naming the VMI when it outlives the timeout. */
  async stop(ref: RestoreRef, plan: RestorePlan): Promise<void> {
    const vm = plan.targetVMName;
    await this.patchSpec(ref, vm, { running: null, runStrategy: 'Halted' });
    const deadline = Date.now() + this.stopTimeoutMs;
    for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
      const vmi = await readOrUndefined(() => this.custom.getNamespacedCustomObject(this.params(ref, KUBEVIRT.vmis, vm)));
      if (vmi === undefined) return;
      if (Date.now() >= deadline) throw new Error(`VirtualMachine ${vm} did not stop within ${Math.round(this.stopTimeoutMs / 1000)} s (its VirtualMachineInstance is still there)`);
      await sleep(delay);
    }
  }

  /** Points the restored volumes at the new PVCs; re-reads and retries when the VM changed meanwhile. */
  async swap(ref: RestoreRef, plan: RestorePlan): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const vm = (await this.custom.getNamespacedCustomObject(this.params(ref, KUBEVIRT.vms, plan.targetVMName))) as VirtualMachine;
      try {
        await this.patchSpec(ref, plan.targetVMName, { template: { spec: { volumes: swappedVolumes(vm, plan) } } }, vm.metadata?.resourceVersion);
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    throw new Error(`VirtualMachine ${plan.targetVMName} kept changing while its volumes were being swapped`);
  }

  /** Starts the VM, or puts back the run state the plan recorded. */
  async resume(ref: RestoreRef, plan: RestorePlan, how: 'start' | 'asBefore'): Promise<void> {
    await this.patchSpec(ref, plan.targetVMName, runPatch(plan.runState, how));
  }

  /** Puts back a recorded run state on `vmName`; a VM that is gone is nothing to do. */
  async putBack(ref: RestoreRef, vmName: string, state: RunState): Promise<void> {
    try {
      await this.patchSpec(ref, vmName, runPatch(state, 'asBefore'));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
