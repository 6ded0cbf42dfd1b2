// Restores one disk backup onto a file or block device, checking every block before it is written.
import { open as openFile, stat, type FileHandle } from 'node:fs/promises';
import { openBlock, SEAL_OVERHEAD } from '../vault/codec.ts';
import { blockCount, idAt, type Manifest, ZERO_ID } from '../vault/manifest.ts';
import { blockKey, checkDiskId, type Vault } from '../vault/vault.ts';
import { sourceLayout } from './extents.ts';
import { forEachBounded, range } from './limits.ts';
import { GcHint } from './gc-hint.ts';
import { ProgressMeter, type ProgressSink } from './progress.ts';

/** What to restore and where. */
export interface RestoreOptions {
  readonly vault: Vault;
  readonly diskId: string;
  /** A backup id, or 'latest'. */
  readonly backupId: string;
  readonly target: string;
  readonly concurrency?: number;
  readonly onProgress?: ProgressSink | undefined;
}

/** What a finished restore reports. */
export interface RestoreResult {
  readonly diskId: string;
  readonly backupId: string;
  readonly diskSize: number;
  readonly bytesWritten: number;
  readonly bytesDownloaded: number;
  readonly zeroBlocks: number;
  readonly durationMs: number;
}

async function loadManifest(o: RestoreOptions): Promise<Manifest> {
  checkDiskId(o.diskId);
  let id = o.backupId;
  if (id === 'latest') {
    const last = (await o.vault.listBackups(o.diskId)).at(-1);
    if (!last) throw new Error(`no backup of disk ${o.diskId} in vault ${o.vault.store.location}`);
    id = last;
  }
  return o.vault.getManifest(o.diskId, id);
}

/**
 * Opens the target: a regular file (created if missing) is cut to the disk size so unwritten blocks read as
 * zeros; a device must be at least the disk size, and its zero blocks are written explicitly.
 */
async function openTarget(target: string, size: number): Promise<{ fh: FileHandle; writeZeros: boolean }> {
  const st = await stat(target).catch(() => undefined);
  if (!st || st.isFile()) {
    const fh = await openFile(target, st ? 'r+' : 'w+');
    await fh.truncate(0);
    await fh.truncate(size);
    return { fh, writeZeros: false };
  }
  if (!st.isBlockDevice()) throw new Error(`restore target ${target} is neither a regular file nor a block device`);
  const have = (await sourceLayout(target)).size;
  if (have < size) throw new Error(`short target: ${target} has ${have} bytes, the backup needs ${size}`);
  return { fh: await openFile(target, 'r+'), writeZeros: true };
}

/** Restores a backup; on any missing or corrupt block it stops and throws, having written only verified bytes. */
export async function restoreDisk(o: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const m = await loadManifest(o);
  const { diskSize, blockSize: bs } = m.header;
  const { fh, writeZeros } = await openTarget(o.target, diskSize);
  const meter = new ProgressMeter('restore', diskSize, o.onProgress);
  const c = { bytesWritten: 0, bytesDownloaded: 0, zeroBlocks: 0 };
  const zeros = Buffer.alloc(bs);
  const gcHint = new GcHint();
  const one = async (b: number): Promise<void> => {
    const id = idAt(m.map, b);
    const len = Math.min(bs, diskSize - b * bs);
    if (id.equals(ZERO_ID)) {
      c.zeroBlocks++;
      if (writeZeros) await fh.write(zeros, 0, len, b * bs);
      meter.add(len);
      return;
    }
    const sealed = await o.vault.store.get(blockKey(id), o.vault.config.blockSize + SEAL_OVERHEAD).catch((err: unknown) => {
      throw new Error(`block ${b} (offset ${b * bs}) of ${o.diskId}/${m.header.backupId}: ${(err as Error).message}`, { cause: err });
    });
    c.bytesDownloaded += sealed.length;
    gcHint.allocated(2 * sealed.length);
    // Verified (authenticated, and hashing to its id) before a single byte of it reaches the target.
    const plain = await openBlock(o.vault.keys, sealed, id).catch((err: unknown) => {
      throw new Error(`block ${b} (offset ${b * bs}) of ${o.diskId}/${m.header.backupId}: ${(err as Error).message}`, { cause: err });
    });
    if (plain.length !== len) throw new Error(`block ${b} of ${o.diskId}/${m.header.backupId} decoded to ${plain.length} bytes, expected ${len}`);
    await fh.write(plain, 0, len, b * bs);
    c.bytesWritten += len;
    meter.add(len);
  };
  try {
    await forEachBounded(range(blockCount(diskSize, bs)), o.concurrency ?? 12, one);
    await fh.sync();
  } finally {
    await fh.close();
  }
  meter.finish();
  return { diskId: o.diskId, backupId: m.header.backupId, diskSize, ...c, durationMs: Date.now() - started };
}
