// Per-disk backup manifests: a versioned header plus the block map, sealed (authenticated) with the manifest key.
import { ID_BYTES, open, seal } from './codec.ts';

/** How a backup found the blocks it had to read. */
export type BackupType = 'full' | 'incremental-hash' | 'incremental-changed-blocks';

/** Counters a backup records about itself. */
export interface BackupStats {
  readonly bytesRead: number;
  readonly bytesUploaded: number;
  readonly blocksUploaded: number;
  readonly blocksReused: number;
  readonly zeroBlocks: number;
  readonly durationMs: number;
}

/** Everything about one disk backup except its block map. */
export interface ManifestHeader {
  readonly format: 'tresor-disk-manifest';
  readonly version: 1;
  readonly vaultId: string;
  readonly diskId: string;
  readonly backupId: string;
  readonly parentId: string | null;
  readonly createdAt: string;
  readonly diskSize: number;
  readonly blockSize: number;
  readonly type: BackupType;
  /** Why this type was used (e.g. why a changed-block list was not). */
  readonly reason: string;
  readonly stats: BackupStats;
}

/** A header plus the block map: block i's id at bytes [32i, 32i+32); all zeros means an all-zero block. */
export interface Manifest {
  readonly header: ManifestHeader;
  readonly map: Buffer;
}

/** The id recorded for all-zero blocks and holes: never stored, restored as zeros. */
export const ZERO_ID = Buffer.alloc(ID_BYTES);

/** Number of blocks a disk of this size has, counting a last partial block. */
export function blockCount(diskSize: number, blockSize: number): number {
  return Math.ceil(diskSize / blockSize);
}

/** The id of block i in a block map. */
export function idAt(map: Buffer, i: number): Buffer {
  return map.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
}

/** Where a manifest is stored in the vault. */
export function manifestKey(diskId: string, backupId: string): string {
  return `manifests/${diskId}/${backupId}`;
}

function context(h: { diskId: string; backupId: string }): Buffer {
  return Buffer.from(manifestKey(h.diskId, h.backupId));
}

/** Size of the header trailer that follows the block map in a manifest's plaintext (JSON padded with spaces). */
export const HEADER_BYTES = 8192;

// Maps whose buffer has a writable HEADER_BYTES trailer right after them (from allocMap or decodeManifest):
// encoding one writes the header in place instead of copying a map of up to 32 MiB per TiB of disk.
const withTrailer = new WeakSet<Buffer>();

/** A zeroed block map for `blocks` blocks, with room for the header so that encoding it copies nothing. */
export function allocMap(blocks: number): Buffer {
  const map = Buffer.alloc(blocks * ID_BYTES + HEADER_BYTES).subarray(0, blocks * ID_BYTES);
  withTrailer.add(map);
  return map;
}

function headerBytes(header: ManifestHeader): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  if (head.length > HEADER_BYTES) throw new Error(`manifest header of ${header.diskId}/${header.backupId} is ${head.length} bytes, over ${HEADER_BYTES}`);
  return Buffer.concat([head, Buffer.alloc(HEADER_BYTES - head.length, 0x20)]);
}

/**
 * Serializes and seals a manifest: plaintext = block map, then the header trailer. The context binds it to
 * its own name so manifests cannot be swapped. A map with a trailer is encoded in place (and its trailer
 * overwritten).
 */
export function encodeManifest(key: Buffer, m: Manifest): Buffer {
  const head = headerBytes(m.header);
  let plain: Buffer;
  if (withTrailer.has(m.map)) {
    plain = Buffer.from(m.map.buffer, m.map.byteOffset, m.map.length + HEADER_BYTES);
    head.copy(plain, m.map.length);
  } else {
    plain = Buffer.concat([m.map, head]);
  }
  return seal(key, plain, context(m.header), 3);
}

/** Opens and checks a manifest read from diskId/backupId; throws on tampering, wrong key or unknown version. */
export function decodeManifest(key: Buffer, sealed: Buffer, diskId: string, backupId: string): Manifest {
  const plain = open(key, sealed, context({ diskId, backupId }), `manifest ${diskId}/${backupId}`);
  if (plain.length < HEADER_BYTES) throw new Error(`manifest ${diskId}/${backupId} is too short`);
  let header: ManifestHeader;
  try {
    header = JSON.parse(plain.subarray(plain.length - HEADER_BYTES).toString('utf8')) as ManifestHeader;
  } catch {
    throw new Error(`manifest ${diskId}/${backupId} authenticates but its header trailer is not JSON: written by an incompatible Tresor version`);
  }
  if (header.format !== 'tresor-disk-manifest' || header.version !== 1) {
    throw new Error(`manifest ${diskId}/${backupId} has unsupported format ${header.format} v${header.version}`);
  }
  const map = plain.subarray(0, plain.length - HEADER_BYTES);
  const expected = blockCount(header.diskSize, header.blockSize) * ID_BYTES;
  if (map.length !== expected) throw new Error(`manifest ${diskId}/${backupId} block map has ${map.length} bytes, expected ${expected}`);
  withTrailer.add(map);
  return { header, map };
}
