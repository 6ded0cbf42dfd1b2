// The Node object: registered at start, kept Ready by a heartbeat (a Lease in kube-node-lease, as
// kubelet renews, plus the Ready condition's heartbeat time), so kube-controller-manager's node
// lifecycle controller never taints it unreachable while the agent runs.
import type { V1Node } from '@kubernetes/client-node';
import type { AgentConfig } from './config.ts';
import { isStatus, type Rest } from './rest.ts';
import { errMsg, type Log } from './log.ts';

const HEARTBEAT_MS = 10_000;
const LEASE_SECONDS = 40;

/** Labels the agent's Node carries; pods select it by `kubernetes.io/hostname`. */
export function nodeLabels(nodeName: string): Record<string, string> {
  return { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'tresor.io/local-node': 'true' };
}

function nodeStatus(ready: boolean): V1Node['status'] {
  const now = new Date();
  return {
    capacity: { cpu: '16', memory: '64Gi', pods: '250' },
    allocatable: { cpu: '16', memory: '64Gi', pods: '250' },
    addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: 'localhost' }],
    conditions: [{
      type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'KubeletReady' : 'KubeletNotReady',
      message: ready ? 'tresor local node agent is posting ready status' : 'tresor local node agent stopped',
      lastHeartbeatTime: now, lastTransitionTime: now,
    }],
  };
}

/** Creates the Node (or adopts one of that name), then heartbeats until `stop` is called. */
export async function registerNode(rest: Rest, cfg: AgentConfig, log: Log): Promise<{ stop: () => Promise<void> }> {
  const name = cfg.nodeName;
  const body: V1Node = { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: nodeLabels(name) }, spec: {} };
  try {
    await rest.create('/api/v1/nodes', body);
    log.info(`registered node ${name}`);
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
    await rest.mergePatch(`/api/v1/nodes/${name}`, { metadata: { labels: nodeLabels(name) }, spec: { unschedulable: false, taints: null } });
  }
  const beat = async (ready: boolean): Promise<void> => {
    await rest.mergePatch(`/api/v1/nodes/${name}/status`, { status: nodeStatus(ready) });
    await renewLease(rest, name);
  };
  await beat(true);
  const timer = setInterval(() => {
    beat(true).catch((err: unknown) => log.warn(`heartbeat: ${errMsg(err)}`));
  }, HEARTBEAT_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      if (cfg.deleteNodeOnExit) await rest.del(`/api/v1/nodes/${name}`).catch(() => undefined);
      else await rest.mergePatch(`/api/v1/nodes/${name}/status`, { status: nodeStatus(false) }).catch(() => undefined);
    },
  };
}

async function renewLease(rest: Rest, name: string): Promise<void> {
  const path = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
  const spec = { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime: new Date().toISOString().replace('Z', '000Z') };
  try {
    await rest.mergePatch(`${path}/${name}`, { spec });
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
    await rest.create(path, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name }, spec });
  }
}
