// Events about pods as kubelet and kube-scheduler record them (Scheduled, Started, Killing, FailedMount,
// BackOff), so `kubectl describe pod` on the local cluster tells what happened. Best effort: an event
// that cannot be written is dropped.
import { randomBytes } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { Rest } from './rest.ts';

/** One event about a pod. */
export interface PodEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  /** `kubelet` or `default-scheduler`. */
  readonly component: string;
  readonly host: string;
}

/** Records an event about `pod`; never throws. */
export function recordPodEvent(rest: Rest, pod: V1Pod, e: PodEvent): void {
  const { namespace, name, uid } = pod.metadata!;
  const now = new Date().toISOString();
  const body = {
    apiVersion: 'v1', kind: 'Event',
    metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace, name, uid },
    type: e.type, reason: e.reason, message: e.message,
    source: { component: e.component, host: e.host },
    firstTimestamp: now, lastTimestamp: now, count: 1,
    reportingComponent: e.component, reportingInstance: e.host,
  };
  rest.create(`/api/v1/namespaces/${namespace}/events`, body).catch(() => undefined);
}
