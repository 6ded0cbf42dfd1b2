// Volume and snapshot bytes on the host: a block volume is a sparse file, a filesystem volume a
// directory; copies go through `cp --reflink=auto` so they are instant on filesystems that share
// extents (btrfs, XFS) and plain copies elsewhere.
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, truncateSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const UNITS: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50,
};

/** Bytes of a Kubernetes quantity ("1Gi", "500M", "1048576"). */
export function quantityBytes(q: string | undefined): number {
  const m = /^([0-9.]+)([kMGTP]i?)?$/.exec(q ?? '');
  const unit = UNITS[m?.[2] ?? ''];
  if (!m || unit === undefined) throw new Error(`cannot read the quantity "${q}"`);
  return Math.ceil(Number(m[1]) * unit);
}

/** Creates an empty volume: a sparse file of `bytes` (block) or an empty directory (filesystem). */
export function createVolume(path: string, kind: 'file' | 'dir', bytes: number): void {
  mkdirSync(dirname(path), { recursive: true });
  if (kind === 'dir') {
    mkdirSync(path, { recursive: true });
    return;
  }
  closeSync(openSync(path, 'w'));
  truncateSync(path, bytes);
}

/** Copies a volume or snapshot (file or directory) to a path that must not exist yet. */
export async function copyVolume(src: string, dst: string): Promise<void> {
  if (!existsSync(src)) throw new Error(`${src} does not exist`);
  mkdirSync(dirname(dst), { recursive: true });
  rmSync(dst, { recursive: true, force: true });
  await run('cp', ['-a', '--reflink=auto', '--sparse=always', src, dst]);
}

/** Grows a block volume's file to at least `bytes` (a restore may ask for more than the snapshot held). */
export function growTo(path: string, bytes: number): void {
  const st = statSync(path);
  if (st.isFile() && st.size < bytes) truncateSync(path, bytes);
}

/** Whether `path` lies in the agent's state dir: only the agent whose disk holds bytes cuts, copies or deletes them. */
export function ownedBy(stateDir: string, path: string): boolean {
  return path.startsWith(`${stateDir}/`);
}

/** Removes a volume or snapshot; missing is fine. */
export function removeVolume(path: string): void {
  rmSync(path, { recursive: true, force: true });
}
