// Which node a fresh claim belongs to. Volumes here are local to an agent (its state dir), so a claim
// must be provisioned by the agent whose node will use it — what WaitForFirstConsumer and the
// scheduler's `volume.kubernetes.io/selected-node` annotation do in a cluster. The node is read from
// that annotation, else from a consumer: a pod (nodeName or hostname nodeSelector) or a VirtualMachine
// (template hostname nodeSelector) that names the claim.
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { ScheduleMode } from './config.ts';
import type { VirtualMachine } from './kubevirt.ts';
import type { Rest } from './rest.ts';

/** The annotation kube-scheduler sets on a WaitForFirstConsumer claim for the node that will use it. */
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const HOSTNAME = 'kubernetes.io/hostname';

/** The node a claim is pinned to by its annotation or its consumers, if any (pure). */
export function claimNode(pvc: V1PersistentVolumeClaim, pods: readonly V1Pod[], vms: readonly VirtualMachine[]): string | undefined {
  const annotated = pvc.metadata?.annotations?.[SELECTED_NODE];
  if (annotated) return annotated;
  const name = pvc.metadata?.name;
  const fromPods = pods.filter((p) => p.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === name))
    .map((p) => p.spec?.nodeName ?? p.spec?.nodeSelector?.[HOSTNAME]);
  const fromVms = vms.map((vm) => vm.spec?.template?.spec)
    .filter((spec) => spec?.volumes?.some((v) => (v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name) === name))
    .map((spec) => spec?.nodeSelector?.[HOSTNAME]);
  return [...fromPods, ...fromVms].find((n) => n !== undefined);
}

/** Whether this agent provisions a claim pinned to `node` (pure): its own, or an unpinned one in `any` mode. */
export function provisionsFor(node: string | undefined, me: string, mode: ScheduleMode): boolean {
  return node === undefined ? mode === 'any' : node === me;
}

/** Reads the claim's namespace's pods and VMs and says which node the claim is pinned to. */
export async function lookupClaimNode(rest: Rest, pvc: V1PersistentVolumeClaim): Promise<string | undefined> {
  if (pvc.metadata?.annotations?.[SELECTED_NODE]) return claimNode(pvc, [], []);
  const ns = pvc.metadata!.namespace!;
  const pods = await rest.get<{ items: V1Pod[] }>(`/api/v1/namespaces/${ns}/pods`);
  const vms = await rest.get<{ items: VirtualMachine[] }>(`/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`).catch(() => ({ items: [] }));
  return claimNode(pvc, pods.items, vms.items);
}
