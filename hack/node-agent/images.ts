// The node's images, as a container runtime keeps them: OCI image layouts on the machine (what
// `npm run image` writes; no registry is reachable here) are the node's "registry", and an image a pod
// names is resolved by digest (`name@sha256:…`) or by the name the layout's index gives it, then unpacked
// once per manifest digest into a root filesystem under the cache (a temporary directory renamed into
// place, so agents starting the same image at once never see half an image). An image found nowhere is
// an ErrImagePull, as kubelet reports one that no registry has.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of an image config a container is started from. */
export interface ImageConfig {
  readonly user: string | undefined;
  readonly env: readonly string[];
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly workingDir: string | undefined;
}

/** An image ready to run: its manifest digest, unpacked root and config. */
export interface LocalImage {
  readonly digest: string;
  readonly rootfs: string;
  readonly config: ImageConfig;
}

/** The image is on no layout of this node (kubelet: ErrImagePull). */
export class ImageNotFound extends Error {}

interface Descriptor {
  readonly digest: string;
  readonly annotations?: Record<string, string>;
}

const hex = (digest: string): string => digest.replace(/^sha256:/, '');

function readJson<T>(layout: string, digest: string): T {
  return JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', hex(digest)), 'utf8')) as T;
}

/** Whether a descriptor of a layout's index is the image `ref` names (by digest, full name or name:latest). */
export function matches(ref: string, d: Descriptor): boolean {
  const at = ref.indexOf('@');
  if (at >= 0) return d.digest === ref.slice(at + 1);
  const name = d.annotations?.['io.containerd.image.name'];
  if (!name) return false;
  const lastSlash = ref.lastIndexOf('/');
  const tagged = ref.indexOf(':', lastSlash + 1) >= 0 ? ref : `${ref}:latest`;
  return name === tagged;
}

/** The images of the given OCI layouts, unpacked on demand into `cacheDir/rootfs/<digest>`. */
export class ImageStore {
  private readonly layouts: readonly string[];
  private readonly cacheDir: string;

  constructor(layouts: readonly string[], cacheDir: string) {
    this.layouts = layouts;
    this.cacheDir = cacheDir;
  }

  /** Finds the image `ref` names; undefined when no layout has it. */
  find(ref: string): { layout: string; digest: string } | undefined {
    for (const layout of this.layouts) {
      if (!existsSync(join(layout, 'index.json'))) continue;
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
      const d = (index.manifests ?? []).find((m) => matches(ref, m));
      if (d && existsSync(join(layout, 'blobs', 'sha256', hex(d.digest)))) return { layout, digest: d.digest };
    }
    return undefined;
  }

  /** Resolves and unpacks the image; throws ImageNotFound when no layout has it. */
  pull(ref: string): LocalImage {
    const found = this.find(ref);
    if (!found) throw new ImageNotFound(`failed to pull image "${ref}": not found in the node's image layouts (${this.layouts.join(', ') || 'none'}); build it with npm run image`);
    const manifest = readJson<{ config: Descriptor; layers: Descriptor[] }>(found.layout, found.digest);
    const cfg = readJson<{ config?: { User?: string; Env?: string[]; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string } }>(found.layout, manifest.config.digest).config ?? {};
    const rootfs = join(this.cacheDir, 'rootfs', hex(found.digest));
    if (!existsSync(rootfs)) this.unpack(found.layout, manifest.layers, rootfs);
    return {
      digest: found.digest,
      rootfs,
      config: { user: cfg.User || undefined, env: cfg.Env ?? [], entrypoint: cfg.Entrypoint ?? [], cmd: cfg.Cmd ?? [], workingDir: cfg.WorkingDir || undefined },
    };
  }

  private unpack(layout: string, layers: readonly Descriptor[], rootfs: string): void {
    const tmp = `${rootfs}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      // Layers in order, later files replacing earlier ones. Whiteouts are not applied: the images built
      // here (hack/image) never delete files of a lower layer.
      for (const l of layers) execFileSync('tar', ['-xzf', join(layout, 'blobs', 'sha256', hex(l.digest)), '-C', tmp, '--no-same-owner', '--delay-directory-restore'], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        renameSync(tmp, rootfs);
      } catch (err) {
        if (!existsSync(rootfs)) throw err; // another agent unpacked it first: use theirs
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}

/** Kubelet's rule: the pod's command replaces the entrypoint (and drops the image's cmd); its args replace cmd. */
export function effectiveCommand(image: ImageConfig, command: readonly string[] | undefined, args: readonly string[] | undefined): string[] {
  if (command?.length) return [...command, ...(args ?? [])];
  return [...image.entrypoint, ...(args?.length ? args : image.cmd)];
}

function passwdEntry(rootfs: string, name: string): { uid: number; gid: number } | undefined {
  let text = '';
  try {
    text = readFileSync(join(rootfs, 'etc', 'passwd'), 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name || uid === name) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** The image's USER as numbers: `uid[:gid]`, or a name (or uid without gid) looked up in the image's /etc/passwd. */
export function imageUser(image: ImageConfig, rootfs: string): { uid: number; gid: number } {
  const [u, g] = (image.user ?? '').split(':');
  if (!u) return { uid: 0, gid: 0 };
  const entry = passwdEntry(rootfs, u);
  if (!entry && !/^\d+$/.test(u)) throw new Error(`image user ${u} is not in the image's /etc/passwd`);
  const uid = entry?.uid ?? Number(u);
  const gid = g && /^\d+$/.test(g) ? Number(g) : (entry?.gid ?? 0);
  return { uid, gid };
}

/**
 * The user a container runs as, kubelet's order: the container's securityContext, the pod's, then the
 * image's USER (`uid[:gid]` or a name from the image's /etc/passwd). runAsNonRoot refuses uid 0.
 */
export function runAsUser(opts: {
  container?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean };
  pod?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean };
  image: ImageConfig;
  rootfs: string;
}): { uid: number; gid: number } {
  const fromImage = imageUser(opts.image, opts.rootfs);
  const uid = opts.container?.runAsUser ?? opts.pod?.runAsUser ?? fromImage.uid;
  const gid = opts.container?.runAsGroup ?? opts.pod?.runAsGroup ?? fromImage.gid;
  if ((opts.container?.runAsNonRoot ?? opts.pod?.runAsNonRoot) && uid === 0) throw new Error('container has runAsNonRoot and image will run as root');
  return { uid, gid };
}
