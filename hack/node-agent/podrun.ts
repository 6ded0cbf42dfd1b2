// One pod on the local node: its volumes prepared (the pod waits in ContainerCreating while a PVC is
// not bound), init containers one after another, then the app containers side by side, each restarted
// as restartPolicy says (OnFailure/Always, with kubelet's doubling back-off), and stopped on deletion
// with SIGTERM, then SIGKILL after the grace period.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { startContainer, type ContainerRun } from './container.ts';
import { containerEnv, expand, type ApiEndpoint } from './env.ts';
import { effectiveCommand, ImageNotFound, runAsUser, type ImageStore, type LocalImage } from './images.ts';
import { errMsg, type Log } from './log.ts';
import type { ContainerInfo, PodInfo } from './podstatus.ts';
import type { Rest } from './rest.ts';
import type { Mount, SandboxSpec } from './sandbox.ts';
import { prepareVolumes, VolumeNotReady, type HostVolume } from './volumes.ts';

/** What a pod run needs from the agent. */
export interface PodRunDeps {
  readonly rest: Rest;
  readonly log: Log;
  readonly api: ApiEndpoint;
  readonly repoRoot: string;
  /** PATH inside containers (the agent's bin dir with the `tresor` shim, the repo's node_modules/.bin, the system). */
  readonly path: string;
  readonly podDir: string;
  /** The node's images; a container whose image is in `hostImages` runs on the host root instead. */
  readonly images: ImageStore;
  readonly hostImages: readonly string[];
  readonly onUpdate: (info: PodInfo) => void;
  /** Records a kubelet event about the pod. */
  readonly event: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
}

const VOLUME_RETRY_MS = 500;
const PULL_BACKOFF_MS = 5_000;
/** Files kubelet manages in every container: name resolution as the node has it. */
const NODE_FILES = ['/etc/hosts', '/etc/resolv.conf'];
const MAX_BACKOFF_MS = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The command an image runs when the container names none: images named tresor* run the tresor CLI. */
export function imageEntrypoint(image: string | undefined): string[] | undefined {
  const repo = (image ?? '').split('/').pop() ?? '';
  return repo.startsWith('tresor') ? ['tresor'] : undefined;
}

function mountsFor(c: V1Container, vols: Map<string, HostVolume>, termFile: string): Mount[] {
  const need = (name: string): HostVolume => {
    const v = vols.get(name);
    if (!v) throw new Error(`container ${c.name}: no volume named ${name}`);
    return v;
  };
  const mounts: Mount[] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = need(m.name);
    const source = m.subPath ? join(v.path, m.subPath) : v.path;
    if (m.subPath && v.kind === 'dir' && !existsSync(source)) mkdirSync(source, { recursive: true }); // kubelet creates a missing subPath
    mounts.push({ source, target: m.mountPath, mode: m.readOnly || v.readOnly ? 'ro-bind' : 'bind' });
  }
  for (const d of c.volumeDevices ?? []) {
    const v = need(d.name);
    if (v.kind !== 'file') throw new Error(`container ${c.name}: volume ${d.name} is not a block volume`);
    mounts.push({ source: v.path, target: d.devicePath, mode: 'dev-bind' });
  }
  mounts.push({ source: termFile, target: c.terminationMessagePath ?? '/dev/termination-log', mode: 'bind' });
  return mounts;
}

/** Runs one pod's containers and reports each change through `onUpdate`. */
export class PodRun {
  private readonly pod: V1Pod;
  private readonly deps: PodRunDeps;
  private readonly running = new Map<string, ContainerRun>();
  private init: ContainerInfo[];
  private main: ContainerInfo[];
  private readonly startTime = new Date();
  private stopping = false;
  /** Container changes are recorded but not written (the deadline's kill is under way). */
  private quiet = false;
  private failure: PodInfo['failure'];

  constructor(pod: V1Pod, deps: PodRunDeps) {
    this.pod = pod;
    this.deps = deps;
    const waiting = (c: V1Container, reason: string): ContainerInfo => ({
      name: c.name, image: c.image ?? '', restartCount: 0, current: { kind: 'waiting', reason }, last: undefined, done: false,
    });
    this.init = (pod.spec?.initContainers ?? []).map((c) => waiting(c, 'PodInitializing'));
    this.main = (pod.spec?.containers ?? []).map((c) => waiting(c, 'ContainerCreating'));
  }

  /** A snapshot of what is known about the pod now. */
  info(): PodInfo {
    return { startTime: this.startTime, init: [...this.init], main: [...this.main], ...(this.failure ? { failure: this.failure } : {}) };
  }

  /** Prepares volumes and runs the containers to their end (resolves when no container runs any more). */
  async run(): Promise<void> {
    const deadline = this.pod.spec?.activeDeadlineSeconds;
    const timer = deadline === undefined ? undefined : setTimeout(() => this.deadlineExceeded(deadline), deadline * 1000);
    try {
      await this.runContainers();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * activeDeadlineSeconds passed: kubelet kills the containers and fails the pod. The phase Failed and
   * the containers' terminated states go out in one status write, as kubelet's do: the containers'
   * own exits are held back (`quiet`) until every one has ended, so no reader ever sees a Failed pod
   * whose container still runs.
   */
  private deadlineExceeded(seconds: number): void {
    const failure = { reason: 'DeadlineExceeded', message: `Pod was active on the node longer than the specified deadline (${seconds} s)` };
    this.deps.event('Normal', 'DeadlineExceeded', failure.message);
    this.quiet = true;
    this.stop(0).finally(() => {
      this.failure = failure;
      this.init = this.init.map((c) => ({ ...c, done: true }));
      this.main = this.main.map((c) => ({ ...c, done: true }));
      this.quiet = false;
      this.report();
    }).catch(() => undefined);
  }

  private async runContainers(): Promise<void> {
    const vols = await this.waitForVolumes();
    if (!vols) return;
    const specs = this.pod.spec?.initContainers ?? [];
    for (let i = 0; i < specs.length; i++) {
      await this.runContainer(specs[i]!, vols, 'init', i);
      const c = this.init[i]!;
      if (c.current.kind !== 'terminated' || c.current.exitCode !== 0) {
        this.main = this.main.map((m) => ({ ...m, done: true }));
        this.report();
        return;
      }
    }
    await Promise.all((this.pod.spec?.containers ?? []).map((c, i) => this.runContainer(c, vols, 'main', i)));
  }

  /** Stops every container: SIGTERM now, SIGKILL after `graceSeconds`; resolves when all have ended. */
  async stop(graceSeconds: number): Promise<void> {
    this.stopping = true;
    const all = [...this.running.values()];
    for (const r of all) r.kill('SIGTERM');
    const killer = setTimeout(() => all.forEach((r) => r.kill('SIGKILL')), Math.max(0, graceSeconds) * 1000);
    await Promise.all(all.map((r) => r.exited));
    clearTimeout(killer);
  }

  private report(): void {
    if (this.quiet) return;
    this.deps.onUpdate(this.info());
  }

  private set(kind: 'init' | 'main', i: number, patch: Partial<ContainerInfo>): void {
    const list = kind === 'init' ? this.init : this.main;
    list[i] = { ...list[i]!, ...patch };
    this.report();
  }

  private async waitForVolumes(): Promise<Map<string, HostVolume> | undefined> {
    let reported = '';
    while (!this.stopping) {
      try {
        return await prepareVolumes(this.deps.rest, this.pod, this.deps.podDir);
      } catch (err) {
        const fatal = !(err instanceof VolumeNotReady);
        const message = errMsg(err);
        if (message !== reported || fatal) {
          reported = message;
          this.deps.event('Warning', fatal ? 'Failed' : 'FailedMount', message);
          this.main = this.main.map((c) => ({ ...c, current: { kind: 'waiting', reason: fatal ? 'CreateContainerConfigError' : 'ContainerCreating', message } }));
          this.report();
        }
        if (fatal) return undefined;
        await sleep(VOLUME_RETRY_MS);
      }
    }
    return undefined;
  }

  private restartWanted(kind: 'init' | 'main', exitCode: number): boolean {
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    if (this.stopping || policy === 'Never') return false;
    return kind === 'init' || policy === 'OnFailure' ? exitCode !== 0 : true;
  }

  /** Whether the container's image is one of the stand-ins that run on the host root. */
  private onHost(c: V1Container): boolean {
    const image = c.image ?? '';
    return this.deps.hostImages.some((h) => image === h || (!h.includes(':') && image === `${h}:latest`));
  }

  /**
   * The container's image from the node's layouts, retried as kubelet retries a pull (ErrImagePull, then
   * ImagePullBackOff); undefined for a host image or when the pod is stopped meanwhile.
   */
  private async pull(c: V1Container, kind: 'init' | 'main', i: number): Promise<LocalImage | undefined> {
    if (this.onHost(c)) return undefined;
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        const img = this.deps.images.pull(c.image ?? '');
        this.set(kind, i, { imageID: img.digest });
        return img;
      } catch (err) {
        if (!(err instanceof ImageNotFound)) throw err;
        if (attempt === 0) this.deps.event('Warning', 'Failed', err.message);
        this.set(kind, i, { current: { kind: 'waiting', reason: attempt === 0 ? 'ErrImagePull' : 'ImagePullBackOff', message: err.message } });
        await sleep(Math.min(60_000, PULL_BACKOFF_MS * 2 ** attempt));
      }
    }
    return undefined;
  }

  private async runContainer(c: V1Container, vols: Map<string, HostVolume>, kind: 'init' | 'main', i: number): Promise<void> {
    let image: LocalImage | undefined;
    try {
      image = await this.pull(c, kind, i);
    } catch (err) {
      const now = new Date();
      this.set(kind, i, { done: true, current: { kind: 'terminated', exitCode: 128, signal: undefined, message: `unpacking image ${c.image}: ${errMsg(err)}`, startedAt: now, finishedAt: now } });
      return;
    }
    for (let restarts = 0; ; restarts++) {
      if (this.stopping) {
        this.set(kind, i, { done: true });
        return;
      }
      const exitCode = await this.runOnce(c, vols, [kind, i], image);
      if (!this.restartWanted(kind, exitCode)) {
        this.set(kind, i, { done: true });
        return;
      }
      await sleep(Math.min(MAX_BACKOFF_MS, 1000 * 2 ** restarts));
      const info = (kind === 'init' ? this.init : this.main)[i]!;
      this.set(kind, i, { restartCount: info.restartCount + 1 });
    }
  }

  /** How a container of an image runs: the image's root, user, working dir and command, kubelet's way. */
  private imageSandbox({ c, image, env, mounts, dir }: { c: V1Container; image: LocalImage; env: Record<string, string>; mounts: Mount[]; dir: string }): SandboxSpec {
    const readOnlyRoot = c.securityContext?.readOnlyRootFilesystem ?? false;
    const own = new Set(mounts.map((m) => m.target));
    for (const f of NODE_FILES) if (!own.has(f) && existsSync(f)) mounts.push({ source: f, target: f, mode: 'ro-bind' });
    if (!readOnlyRoot && !own.has('/tmp')) {
      // The image's files are shared by its containers and stay read-only; a writable root gets a
      // scratch /tmp of its own (the part of a container's writable layer programs use).
      const scratch = join(dir, 'tmp');
      rmSync(scratch, { recursive: true, force: true });
      mkdirSync(scratch, { recursive: true, mode: 0o1777 });
      mounts.push({ source: scratch, target: '/tmp', mode: 'bind' });
    }
    const command = effectiveCommand(image.config, c.command, c.args).map((a) => expand(a, env));
    if (command.length === 0) throw new Error(`container ${c.name} has no command and image ${c.image} has no entrypoint or cmd`);
    const user = runAsUser({ container: c.securityContext, pod: this.pod.spec?.securityContext, image: image.config, rootfs: image.rootfs });
    return {
      mounts, command, rootfs: image.rootfs, readOnlyRoot,
      workingDir: c.workingDir ?? image.config.workingDir ?? '/',
      ...(user.uid === 0 && user.gid === 0 ? {} : { user }),
    };
  }

  private async runOnce(c: V1Container, vols: Map<string, HostVolume>, [kind, i]: ['init' | 'main', number], image: LocalImage | undefined): Promise<number> {
    const dir = join(this.deps.podDir, 'containers', c.name);
    mkdirSync(dir, { recursive: true });
    const termFile = join(dir, 'termination-log');
    writeFileSync(termFile, '');
    let run: ContainerRun;
    try {
      const env = await containerEnv(this.deps.rest, this.pod, c, { path: this.deps.path, api: this.deps.api, ...(image ? { image: image.config.env } : {}) });
      let sandbox: SandboxSpec;
      if (image) sandbox = this.imageSandbox({ c, image, env, mounts: mountsFor(c, vols, termFile), dir });
      else {
        const command = [...(c.command ?? imageEntrypoint(c.image) ?? []), ...(c.args ?? [])].map((a) => expand(a, env));
        if (command.length === 0) throw new Error(`container ${c.name} has no command and image ${c.image} has no known entrypoint`);
        sandbox = { mounts: mountsFor(c, vols, termFile), workingDir: c.workingDir ?? this.deps.repoRoot, command };
      }
      run = startContainer({ sandbox, env, logFile: join(dir, 'log'), terminationFile: termFile, fallbackToLogs: c.terminationMessagePolicy === 'FallbackToLogsOnError' });
    } catch (err) {
      const now = new Date();
      this.deps.event('Warning', 'Failed', `Error: ${errMsg(err)}`);
      this.set(kind, i, { current: { kind: 'terminated', exitCode: 128, signal: undefined, message: errMsg(err), startedAt: now, finishedAt: now } });
      return 128;
    }
    this.running.set(c.name, run);
    this.deps.event('Normal', 'Started', `Started container ${c.name}`);
    if (this.stopping) run.kill('SIGKILL'); // deleted while it was being started
    const prev = (kind === 'init' ? this.init : this.main)[i]!;
    this.set(kind, i, { current: { kind: 'running', startedAt: run.startedAt }, last: prev.current.kind === 'terminated' ? prev.current : prev.last });
    const exit = await run.exited;
    this.running.delete(c.name);
    this.deps.log.info(`pod ${this.pod.metadata?.namespace}/${this.pod.metadata?.name} container ${c.name} exited ${exit.exitCode}`);
    this.set(kind, i, { current: { kind: 'terminated', ...exit, startedAt: run.startedAt } });
    return exit.exitCode;
  }
}
