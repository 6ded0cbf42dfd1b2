// Filesystem backend: one file per object under a root directory, written as temp file + fsync + rename.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { NotFoundError, type ObjectStore, type StoredObject } from './store.ts';

const TMP_MARK = '.tmp-';
/** Space kept free for GC and forget (ADR 0016): released when a small maintenance write finds the volume full. */
export const RESERVE_BYTES = 4 * 1024 * 1024;
const RESERVE_NAME = '.reserve';
/** Objects that may use the reserve: locks, clock probes and condemned sets, never blocks or manifests. */
const MAINTENANCE = /^(locks|clock|gc)\//;
const UNLINKS = 16;
const STAT_BATCH = 64;

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** An ObjectStore in a local directory (a PVC in the cluster, a plain directory by hand). */
export class FsStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;
  private readonly madeDirs = new Set<string>();
  private readonly dirtyDirs = new Set<string>();
  private reserveChecked = false;

  constructor(root: string) {
    this.root = root;
    this.location = `file://${root}`;
  }

  private path(key: string): string {
    if (key.split('/').some((p) => p === '..' || p === '')) throw new Error(`invalid object key ${key}`);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    if (!this.reserveChecked) {
      this.reserveChecked = true;
      await this.keepReserve();
    }
    try {
      await this.write(key, data);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC' || !MAINTENANCE.test(key)) throw err;
      // The volume is full and this is a small maintenance write (a lock, a probe, a condemned set): release
      // the reserve so that forget and GC can run and free space, then try once more.
      if (!(await this.releaseReserve())) throw err;
      await this.write(key, data);
    }
  }

  /** Creates the reserve file when it is missing; a volume too full for it is left alone. */
  private async keepReserve(): Promise<void> {
    const path = join(this.root, RESERVE_NAME);
    if (await stat(path).then(() => true, () => false)) return;
    const tmp = `${path}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    try {
      await mkdir(this.root, { recursive: true });
      const fh = await open(tmp, 'wx');
      try {
        // Written, not truncated: a sparse file would reserve nothing.
        await fh.writeFile(Buffer.alloc(RESERVE_BYTES));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch {
      await rm(tmp, { force: true });
    }
  }

  private async releaseReserve(): Promise<boolean> {
    try {
      await unlink(join(this.root, RESERVE_NAME));
      return true;
    } catch {
      return false;
    }
  }

  private async write(key: string, data: Uint8Array): Promise<void> {
    const path = this.path(key);
    const dir = dirname(path);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const tmp = `${path}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    try {
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(data);
        // The bytes must be on disk before the name points at them, or a crash could leave a named empty file.
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      // A failed write (ENOSPC, EIO) leaves no partial temp file behind; a crash's leftovers go with cleanTemp.
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    this.dirtyDirs.add(dir);
  }

  async get(key: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    try {
      const fh = await open(this.path(key), 'r');
      try {
        const size = (await fh.stat()).size;
        if (size > maxBytes) throw new Error(`object ${key} in vault ${this.location} has ${size} bytes, more than the ${maxBytes} it may have`);
        const buf = Buffer.allocUnsafeSlow(size);
        const { bytesRead } = await fh.read(buf, 0, size, 0);
        return bytesRead === size ? buf : buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(key, this.location);
      throw err;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await stat(this.path(key));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    // Walk from the deepest directory the prefix names completely, then filter by the full prefix.
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? this.root : this.path(prefix.slice(0, cut));
    yield* this.walk(base, prefix);
  }

  private async *walk(dir: string, prefix: string): AsyncIterable<StoredObject> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    // Stats in parallel batches: one at a time made listing a million-block vault take minutes.
    for (let i = 0; i < names.length; i += STAT_BATCH) {
      const batch = names.slice(i, i + STAT_BATCH);
      const stats = await Promise.all(batch.map((n) => stat(join(dir, n)).catch(() => undefined)));
      for (const [k, name] of batch.entries()) {
        const st = stats[k];
        if (!st) continue;
        const p = join(dir, name);
        const key = relative(this.root, p).split(sep).join('/');
        if (st.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(p, prefix);
        } else if (!name.includes(TMP_MARK) && !name.startsWith('.') && key.startsWith(prefix)) {
          yield { key, size: st.size, modified: st.mtime };
        }
      }
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) await this.delete(keys[next++] as string);
    };
    await Promise.all(Array.from({ length: Math.min(UNLINKS, keys.length) }, () => worker()));
    for (const k of keys) this.dirtyDirs.add(dirname(this.path(k)));
  }

  async cleanTemp(before: Date): Promise<number> {
    let removed = 0;
    const sweep = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const name of names) {
        const p = join(dir, name);
        const st = await stat(p).catch(() => undefined);
        if (!st) continue;
        if (st.isDirectory()) await sweep(p);
        else if (name.includes(TMP_MARK) && st.mtime < before) {
          await rm(p, { force: true });
          removed++;
        }
      }
    };
    await sweep(this.root);
    return removed;
  }

  async sync(): Promise<void> {
    // Renames are durable only once their directories are fsynced; do it before anything points at them.
    const dirs = [...this.dirtyDirs];
    this.dirtyDirs.clear();
    await Promise.all(dirs.map((d) => fsyncPath(d)));
    await Promise.all([...new Set(dirs.map((d) => dirname(d)))].map((d) => fsyncPath(d)));
  }
}
