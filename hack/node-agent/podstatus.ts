// Pod status as kubelet reports it, computed from what the agent knows about the pod's containers:
// phase, conditions and per-container states (pure functions, so the mapping reads in one place).
import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';

/** A container that ended (one run of it). */
export interface Terminated {
  readonly kind: 'terminated';
  readonly exitCode: number;
  readonly signal: number | undefined;
  readonly message: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
}

/** Where one container is now. */
export type Current =
  | { readonly kind: 'waiting'; readonly reason: string; readonly message?: string }
  | { readonly kind: 'running'; readonly startedAt: Date }
  | Terminated;

/** What the agent knows about one container. */
export interface ContainerInfo {
  readonly name: string;
  readonly image: string;
  /** The image's manifest digest once pulled (images from the node's layouts). */
  readonly imageID?: string;
  readonly restartCount: number;
  readonly current: Current;
  readonly last: Terminated | undefined;
  /** No further run will follow (restart policy says so, or the pod is going away). */
  readonly done: boolean;
}

/** What the agent knows about one pod. */
export interface PodInfo {
  readonly startTime: Date;
  readonly init: readonly ContainerInfo[];
  readonly main: readonly ContainerInfo[];
  /** The pod failed as a whole (activeDeadlineSeconds passed). */
  readonly failure?: { readonly reason: string; readonly message: string };
}

function succeeded(c: ContainerInfo): boolean {
  return c.current.kind === 'terminated' && c.current.exitCode === 0;
}

function failedForGood(c: ContainerInfo): boolean {
  return c.done && c.current.kind === 'terminated' && c.current.exitCode !== 0;
}

/** The pod phase kubelet would report. */
export function podPhase(p: PodInfo): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (p.failure) return 'Failed';
  if (p.init.some(failedForGood)) return 'Failed';
  if (!p.init.every(succeeded)) return 'Pending';
  if (p.main.length > 0 && p.main.every((c) => c.done && c.current.kind === 'terminated')) {
    return p.main.every(succeeded) ? 'Succeeded' : 'Failed';
  }
  return p.main.some((c) => c.current.kind !== 'waiting' || c.restartCount > 0) ? 'Running' : 'Pending';
}

function toState(s: Current | Terminated): V1ContainerState {
  if (s.kind === 'waiting') return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
  if (s.kind === 'running') return { running: { startedAt: s.startedAt } };
  return {
    terminated: {
      exitCode: s.exitCode,
      reason: s.exitCode === 0 ? 'Completed' : 'Error',
      ...(s.message ? { message: s.message } : {}),
      ...(s.signal ? { signal: s.signal } : {}),
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
    },
  };
}

/** One containerStatuses entry. */
export function containerStatus(c: ContainerInfo): V1ContainerStatus {
  return {
    name: c.name,
    image: c.image,
    imageID: c.imageID ?? '',
    containerID: `tresor-local://${c.name}`,
    ready: c.current.kind === 'running',
    started: c.current.kind === 'running',
    restartCount: c.restartCount,
    state: toState(c.current),
    ...(c.last ? { lastState: toState(c.last) } : {}),
  };
}

function condition(type: string, ok: boolean, now: Date, reason?: string): V1PodCondition {
  return { type, status: ok ? 'True' : 'False', lastTransitionTime: now, ...(ok || !reason ? {} : { reason }) };
}

/** Conditions keep their lastTransitionTime unless their status flipped (API conventions). */
export function keepTransitionTimes(next: readonly V1PodCondition[], prev: readonly V1PodCondition[] | undefined): V1PodCondition[] {
  return next.map((c) => {
    const old = prev?.find((o) => o.type === c.type);
    return old && old.status === c.status && old.lastTransitionTime ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  });
}

/** The whole pod status (phase, conditions, container statuses). */
export function podStatus(p: PodInfo, now = new Date()): V1PodStatus {
  const phase = podPhase(p);
  const initialized = p.init.every(succeeded);
  const ready = phase === 'Running' && p.main.every((c) => c.current.kind === 'running');
  const doneReason = phase === 'Succeeded' || phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady';
  return {
    phase,
    ...(p.failure ? { reason: p.failure.reason, message: p.failure.message } : {}),
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: '127.0.0.1',
    podIPs: [{ ip: '127.0.0.1' }],
    startTime: p.startTime,
    conditions: [
      condition('PodScheduled', true, now),
      condition('Initialized', initialized, now, 'ContainersNotInitialized'),
      condition('ContainersReady', ready, now, doneReason),
      condition('Ready', ready, now, doneReason),
    ],
    ...(p.init.length ? { initContainerStatuses: p.init.map(containerStatus) } : {}),
    containerStatuses: p.main.map(containerStatus),
  };
}
