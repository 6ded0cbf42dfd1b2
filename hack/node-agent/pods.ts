// The kubelet stand-in: watches every pod, binds the pending ones its scheduler takes, runs the pods
// bound to this node (one PodRun each), writes their status, and on deletion stops the processes and
// then removes the pod object with gracePeriodSeconds 0, as kubelet finalizes a graceful deletion.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig, V1Pod, V1PodCondition } from '@kubernetes/client-node';
import type { AgentConfig } from './config.ts';
import type { ApiEndpoint } from './env.ts';
import { recordPodEvent } from './events.ts';
import { errMsg, type Log } from './log.ts';
import { nodeLabels } from './node.ts';
import { ImageStore } from './images.ts';
import { PodRun } from './podrun.ts';
import { keepTransitionTimes, podStatus, type PodInfo } from './podstatus.ts';
import { ignoreNotFound, type Rest } from './rest.ts';
import { bindPod, shouldBind } from './scheduler.ts';
import { watchResource } from './watch.ts';

interface Entry {
  readonly run: PodRun;
  /** Status writes for one pod go out in order, one at a time. */
  writes: Promise<void>;
  /** The conditions last written, for their transition times. */
  conditions: V1PodCondition[] | undefined;
  finished: Promise<void>;
  deleting: boolean;
}

function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}

function podPath(pod: V1Pod): string {
  return `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}`;
}

/** Writes the `tresor` CLI shim that pods of image tresor:* run, and returns the PATH containers get. */
export function containerPath(cfg: AgentConfig): string {
  const bin = join(cfg.stateDir, 'bin');
  mkdirSync(bin, { recursive: true });
  const node = join(cfg.repoRoot, 'node_modules', '.bin', 'node');
  writeFileSync(join(bin, 'tresor'), `#!/bin/sh\nexec "${node}" "${join(cfg.repoRoot, 'operator', 'bin', 'tresor.js')}" "$@"\n`, { mode: 0o755 });
  return [bin, join(cfg.repoRoot, 'node_modules', '.bin'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
}

/** Runs the pods of this node until stopped. */
export class PodController {
  private readonly cfg: AgentConfig;
  private readonly rest: Rest;
  private readonly log: Log;
  private readonly api: ApiEndpoint;
  private readonly path: string;
  private readonly images: ImageStore;
  private readonly pods = new Map<string, Entry>();
  private stopWatch: (() => Promise<void>) | undefined;

  constructor(cfg: AgentConfig, rest: Rest, log: Log) {
    this.cfg = cfg;
    this.rest = rest;
    this.log = log;
    const url = new URL(rest.server);
    this.api = { host: url.hostname, port: url.port || '443' };
    this.path = containerPath(cfg);
    this.images = new ImageStore(cfg.imageLayouts, cfg.imageCache);
  }

  /** Starts watching pods. */
  start(kc: KubeConfig): void {
    const w = watchResource<V1Pod>({ kc, rest: this.rest, log: this.log }, '/api/v1/pods', {
      onChange: (p) => this.onPod(p),
      onDelete: (p) => this.onGone(p),
    });
    this.stopWatch = w.stop;
  }

  /** Stops the watch and kills every running pod (the pods stay; a restarted agent reports them lost). */
  async stop(): Promise<void> {
    await this.stopWatch?.();
    await Promise.all([...this.pods.values()].map((e) => e.run.stop(0)));
  }

  private onPod(pod: V1Pod): void {
    const node = { name: this.cfg.nodeName, labels: nodeLabels(this.cfg.nodeName) };
    if (shouldBind(pod, node, this.cfg.schedule)) {
      bindPod(this.rest, pod, this.cfg.nodeName)
        .then((ok) => {
          if (!ok) return;
          this.log.info(`bound pod ${podKey(pod)} to ${this.cfg.nodeName}`);
          this.event(pod, 'default-scheduler', ['Normal', 'Scheduled', `Successfully assigned ${podKey(pod)} to ${this.cfg.nodeName}`]);
        })
        .catch((err: unknown) => this.log.warn(`binding pod ${podKey(pod)}: ${errMsg(err)}`));
      return;
    }
    if (pod.spec?.nodeName !== this.cfg.nodeName) return;
    const entry = this.pods.get(pod.metadata!.uid!);
    if (pod.metadata?.deletionTimestamp) {
      this.terminate(pod, entry);
      return;
    }
    const phase = pod.status?.phase;
    if (entry || phase === 'Succeeded' || phase === 'Failed') return;
    if (phase === 'Running') this.reportLost(pod);
    else this.startPod(pod);
  }

  private startPod(pod: V1Pod): void {
    const uid = pod.metadata!.uid!;
    const podDir = join(this.cfg.stateDir, 'pods', uid);
    mkdirSync(podDir, { recursive: true });
    const run = new PodRun(pod, {
      rest: this.rest, log: this.log, api: this.api, repoRoot: this.cfg.repoRoot, path: this.path, podDir,
      images: this.images, hostImages: this.cfg.hostImages,
      onUpdate: (info) => this.writeStatus(pod, info),
      event: (type, reason, message) => this.event(pod, 'kubelet', [type, reason, message]),
    });
    const entry: Entry = { run, writes: Promise.resolve(), finished: Promise.resolve(), deleting: false, conditions: pod.status?.conditions };
    this.pods.set(uid, entry);
    this.log.info(`starting pod ${podKey(pod)}`);
    this.writeStatus(pod, run.info());
    entry.finished = run.run().catch((err: unknown) => this.log.warn(`pod ${podKey(pod)}: ${errMsg(err)}`));
  }

  private event(pod: V1Pod, component: string, [type, reason, message]: ['Normal' | 'Warning', string, string]): void {
    recordPodEvent(this.rest, pod, { type, reason, message, component, host: this.cfg.nodeName });
  }

  private writeStatus(pod: V1Pod, info: PodInfo): void {
    const entry = this.pods.get(pod.metadata!.uid!);
    const status = podStatus(info);
    status.conditions = keepTransitionTimes(status.conditions ?? [], entry?.conditions);
    if (entry) entry.conditions = status.conditions;
    const write = async (): Promise<void> => {
      await this.rest.mergePatch(`${podPath(pod)}/status`, { status });
    };
    const next = (entry?.writes ?? Promise.resolve()).then(write).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 404) this.log.warn(`status of pod ${podKey(pod)}: ${errMsg(err)}`);
    });
    if (entry) entry.writes = next;
  }

  /** A pod this node ran before the agent restarted: its processes died with the old agent. */
  private reportLost(pod: V1Pod): void {
    const now = new Date();
    const main = (pod.spec?.containers ?? []).map((c) => ({
      name: c.name, image: c.image ?? '', restartCount: 0, last: undefined, done: true,
      current: { kind: 'terminated' as const, exitCode: 137, signal: undefined, message: 'The container could not be located when the pod was terminated', startedAt: now, finishedAt: now },
    }));
    this.writeStatus(pod, { startTime: now, init: [], main });
  }

  private terminate(pod: V1Pod, entry: Entry | undefined): void {
    if (entry?.deleting) return;
    if (entry) entry.deleting = true;
    const grace = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    this.log.info(`stopping pod ${podKey(pod)} (grace ${grace} s)`);
    if (entry) this.event(pod, 'kubelet', ['Normal', 'Killing', `Stopping the pod's containers (grace period ${grace} s)`]);
    const done = async (): Promise<void> => {
      if (entry) {
        await entry.run.stop(grace);
        await entry.finished;
        await entry.writes;
      }
      await ignoreNotFound(() => this.rest.del(podPath(pod), { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid } }));
    };
    done().catch((err: unknown) => this.log.warn(`deleting pod ${podKey(pod)}: ${errMsg(err)}`));
  }

  private onGone(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const entry = this.pods.get(uid);
    this.pods.delete(uid);
    const cleanup = async (): Promise<void> => {
      if (entry) await entry.run.stop(0);
      rmSync(join(this.cfg.stateDir, 'pods', uid), { recursive: true, force: true });
    };
    cleanup().catch((err: unknown) => this.log.warn(`cleaning up pod ${podKey(pod)}: ${errMsg(err)}`));
  }
}
