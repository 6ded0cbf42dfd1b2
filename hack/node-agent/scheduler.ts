// The mini scheduler: the local control plane has no kube-scheduler, so the agent binds pending pods to
// its own node through the pods/binding subresource, as kube-scheduler would. Which pods it takes is a
// documented choice (docs/local-node-agent.md): pods for the default scheduler or `tresor-local` whose
// nodeSelector this node satisfies; with `--schedule selected` only pods whose nodeSelector names this
// node by `kubernetes.io/hostname` (so agents of parallel tests never take each other's pods).
import type { V1Pod } from '@kubernetes/client-node';
import type { ScheduleMode } from './config.ts';
import { isStatus, type Rest } from './rest.ts';

/** The scheduler name the agent answers to besides the default one. */
export const SCHEDULER_NAME = 'tresor-local';

function isPendingForUs(pod: V1Pod): boolean {
  if (pod.spec?.nodeName || pod.metadata?.deletionTimestamp) return false;
  const phase = pod.status?.phase;
  if (phase && phase !== 'Pending') return false;
  const scheduler = pod.spec?.schedulerName ?? 'default-scheduler';
  return scheduler === 'default-scheduler' || scheduler === SCHEDULER_NAME;
}

/** Whether this node's scheduler should bind `pod` (pure). */
export function shouldBind(pod: V1Pod, node: { name: string; labels: Record<string, string> }, mode: ScheduleMode): boolean {
  if (!isPendingForUs(pod)) return false;
  const selector = pod.spec?.nodeSelector ?? {};
  if (mode === 'selected' && selector['kubernetes.io/hostname'] !== node.name) return false;
  return Object.entries(selector).every(([k, v]) => node.labels[k] === v);
}

/** Binds a pod to the node; a pod another scheduler bound first (409) is left alone. */
export async function bindPod(rest: Rest, pod: V1Pod, nodeName: string): Promise<boolean> {
  const ns = pod.metadata!.namespace!;
  const name = pod.metadata!.name!;
  try {
    await rest.create(`/api/v1/namespaces/${ns}/pods/${name}/binding`, {
      apiVersion: 'v1', kind: 'Binding', metadata: { name, uid: pod.metadata?.uid }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    });
    return true;
  } catch (err) {
    if (isStatus(err, 409) || isStatus(err, 404)) return false;
    throw err;
  }
}
