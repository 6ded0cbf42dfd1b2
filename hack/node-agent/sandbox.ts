// What a container sees, built as bubblewrap arguments: a root filesystem (the host's, or an image's
// unpacked root) bind-mounted entry by entry onto bwrap's empty root, with fresh /proc and /dev; then the
// pod's volumes at the paths the pod spec names (a block PVC's backing file at its devicePath with
// --dev-bind). Why entry by entry: binding onto a path that does not exist makes bwrap create the mount
// point on the bind's source, i.e. on the host or in the shared image root; so every directory on the
// way to a mount target is recreated on bwrap's tmpfs root ("shadowed") with its other entries bound one
// by one, and nothing is ever created outside the sandbox. With the host root, /tmp is the host's (the
// agent's state dir, with the `tresor` shim on PATH, often lives there). An image's files are always
// bound read-only (the unpacked root is shared by every container of the image); readOnlyRootFilesystem
// also remounts the root read-only, else new files may be made on the sandbox's own tmpfs root.
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** One bind mount into the sandbox. */
export interface Mount {
  readonly source: string;
  readonly target: string;
  readonly mode: 'bind' | 'ro-bind' | 'dev-bind';
}

/** A container's process as bubblewrap should start it. */
export interface SandboxSpec {
  readonly mounts: readonly Mount[];
  readonly workingDir: string;
  readonly command: readonly string[];
  /** An image's unpacked root; absent: the host's root (the stand-in images, ADR 0102). */
  readonly rootfs?: string;
  /** securityContext.readOnlyRootFilesystem (image roots only). */
  readonly readOnlyRoot?: boolean;
  /** The user and group the process runs as (a user namespace mapping them to the agent's own). */
  readonly user?: { readonly uid: number; readonly gid: number };
}

/** Paths each sandbox gets fresh: mounts below them never touch the host. */
const FRESH = ['/proc', '/dev'];
const SPECIAL = new Set([...FRESH, '/sys']);

function underFresh(p: string): boolean {
  return FRESH.some((f) => p === f || p.startsWith(`${f}/`));
}

function shadow(root: string, dir: string, targets: readonly string[], out: string[]): void {
  const host = join(root, dir);
  const bind = root === '/' ? '--bind' : '--ro-bind';
  for (const entry of readdirSync(host).sort()) {
    const p = dir === '/' ? `/${entry}` : `${dir}/${entry}`;
    if ((dir === '/' && SPECIAL.has(p)) || targets.includes(p)) continue;
    const src = join(root, p);
    const st = lstatSync(src, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isSymbolicLink()) out.push('--symlink', readlinkSync(src), p);
    else if (st.isDirectory() && targets.some((t) => t.startsWith(`${p}/`))) {
      out.push('--dir', p);
      shadow(root, p, targets, out);
    } else out.push(bind, src, p);
  }
}

/** The bwrap arguments that rebuild a root (the host's, or an image's) around the given mount targets. */
export function rootArgs(targets: readonly string[], root = '/'): string[] {
  const out: string[] = [];
  shadow(root, '/', targets.filter((t) => !underFresh(t)), out);
  out.push('--ro-bind', '/sys', '/sys', '--proc', '/proc', '--dev', '/dev');
  return out;
}

/**
 * The target as the root resolves it: a path through a symlink (/var/run -> /run, an image's lib ->
 * usr/lib) would make bwrap follow the link while creating mount points, so mounts go to the resolved
 * path (the link stays). Links in an image root resolve inside it.
 */
export function resolveTarget(target: string, root = '/'): string {
  if (underFresh(target)) return target;
  let existing = target;
  while (!existsSync(join(root, existing))) existing = dirname(existing);
  const real = realpathSync(join(root, existing));
  const inside = root === '/' ? real : `/${relative(realpathSync(root), real)}`;
  return join(inside, relative(existing, target));
}

/** The full bwrap command line for a container. */
export function bwrapArgs(spec: SandboxSpec): string[] {
  for (const m of spec.mounts) {
    if (!m.target.startsWith('/') || m.target === '/') throw new Error(`mount path ${m.target} must be absolute and not /`);
  }
  const root = spec.rootfs ?? '/';
  const mounts = spec.mounts.map((m) => ({ ...m, target: resolveTarget(m.target, root) })).sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  const user = spec.user ? ['--unshare-user', '--uid', String(spec.user.uid), '--gid', String(spec.user.gid)] : [];
  const args = ['--die-with-parent', '--unshare-pid', ...user, ...rootArgs(mounts.map((m) => m.target), root)];
  for (const m of mounts) args.push(`--${m.mode}`, m.source, m.target);
  if (spec.rootfs && spec.readOnlyRoot) args.push('--remount-ro', '/');
  args.push('--chdir', spec.workingDir, '--', ...spec.command);
  return args;
}
