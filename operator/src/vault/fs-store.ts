// Filesystem backend: one file per object under a root directory, written as temp file + fsync + rename.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { NotFoundError, type ObjectStore, type StoredObject } from './store.ts';

const TMP_MARK = '.tmp-';

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

  constructor(root: string) {
    this.root = root;
    this.location = `file://${root}`;
  }

  private path(key: string): string {
    if (key.split('/').some((p) => p === '..' || p === '')) throw new Error(`invalid object key ${key}`);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const path = this.path(key);
    const dir = dirname(path);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const tmp = `${path}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      // The bytes must be on disk before the name points at them, or a crash could leave a named empty file.
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    this.dirtyDirs.add(dir);
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
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
    for (const name of names) {
      const p = join(dir, name);
      const key = relative(this.root, p).split(sep).join('/');
      const st = await stat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(p, prefix);
      } else if (!name.includes(TMP_MARK) && key.startsWith(prefix)) {
        yield { key, size: st.size, modified: st.mtime };
      }
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async sync(): Promise<void> {
    // Renames are durable only once their directories are fsynced; do it before anything points at them.
    const dirs = [...this.dirtyDirs];
    this.dirtyDirs.clear();
    await Promise.all(dirs.map((d) => fsyncPath(d)));
    await Promise.all([...new Set(dirs.map((d) => dirname(d)))].map((d) => fsyncPath(d)));
  }
}
