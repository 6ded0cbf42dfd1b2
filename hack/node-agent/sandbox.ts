// What a container sees, built as bubblewrap arguments: the host's root, bind-mounted entry by entry
// onto bwrap's empty root, with fresh /proc and /dev; then the pod's volumes at the paths the pod
// spec names (a block PVC's backing file at its devicePath with --dev-bind). Why entry by entry: binding
// onto a path that does not exist makes bwrap create the mount point on the bind's source, i.e. on the
// host; so every directory on the way to a mount target is recreated on bwrap's tmpfs root ("shadowed")
// with its other entries bound one by one, and nothing is ever created on the host. /tmp is the host's
// (the agent's state dir, with the `tresor` shim on PATH, often lives there).
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
}

/** Paths each sandbox gets fresh: mounts below them never touch the host. */
const FRESH = ['/proc', '/dev'];
const SPECIAL = new Set([...FRESH, '/sys']);

function underFresh(p: string): boolean {
  return FRESH.some((f) => p === f || p.startsWith(`${f}/`));
}

function shadow(dir: string, targets: readonly string[], out: string[]): void {
  for (const entry of readdirSync(dir).sort()) {
    const p = dir === '/' ? `/${entry}` : `${dir}/${entry}`;
    if ((dir === '/' && SPECIAL.has(p)) || targets.includes(p)) continue;
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isSymbolicLink()) out.push('--symlink', readlinkSync(p), p);
    else if (st.isDirectory() && targets.some((t) => t.startsWith(`${p}/`))) {
      out.push('--dir', p);
      shadow(p, targets, out);
    } else out.push('--bind', p, p);
  }
}

/** The bwrap arguments that rebuild the host's root around the given mount targets (reads the host fs). */
export function rootArgs(targets: readonly string[]): string[] {
  const out: string[] = [];
  shadow('/', targets.filter((t) => !underFresh(t)), out);
  out.push('--ro-bind', '/sys', '/sys', '--proc', '/proc', '--dev', '/dev');
  return out;
}

/**
 * The target as the host resolves it: a path through a host symlink (/var/run -> /run) would make bwrap
 * follow the link while creating mount points, so mounts go to the resolved path (the link stays).
 */
export function resolveTarget(target: string): string {
  if (underFresh(target)) return target;
  let existing = target;
  while (!existsSync(existing)) existing = dirname(existing);
  return join(realpathSync(existing), relative(existing, target));
}

/** The full bwrap command line for a container. */
export function bwrapArgs(spec: SandboxSpec): string[] {
  for (const m of spec.mounts) {
    if (!m.target.startsWith('/') || m.target === '/') throw new Error(`mount path ${m.target} must be absolute and not /`);
  }
  const mounts = spec.mounts.map((m) => ({ ...m, target: resolveTarget(m.target) })).sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  const args = ['--die-with-parent', '--unshare-pid', ...rootArgs(mounts.map((m) => m.target))];
  for (const m of mounts) args.push(`--${m.mode}`, m.source, m.target);
  args.push('--chdir', spec.workingDir, '--', ...spec.command);
  return args;
}
