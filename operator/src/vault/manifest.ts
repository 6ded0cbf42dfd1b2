// Per-disk backup manifests: a versioned header plus the block map, sealed (authenticated) with the manifest key.
import { createHmac } from 'node:crypto';
import { ID_BYTES, type KeyRing, open, seal } from './codec.ts';

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

/** Hex digits of a disk tag: 128 bits of HMAC-SHA256. */
const TAG_HEX = 32;

/**
 * The keyed id a disk's manifests are stored under: HMAC-SHA256(naming key, disk id), so a bucket reader
 * learns neither namespace, VM nor volume from object names (ADR 0019). The readable id is in the sealed header.
 */
export function diskTag(namingKey: Buffer, diskId: string): string {
  return createHmac('sha256', namingKey).update('tresor/v2/disk/').update(diskId).digest('hex').slice(0, TAG_HEX);
}

/** Where a disk's manifests are stored: one "directory" per disk tag, so one disk lists without the others. */
export function manifestPrefix(namingKey: Buffer, diskId: string): string {
  return `manifests/${diskTag(namingKey, diskId)}/`;
}

/** Where a manifest is stored in the vault. */
export function manifestKey(namingKey: Buffer, diskId: string, backupId: string): string {
  return `${manifestPrefix(namingKey, diskId)}${backupId}`;
}

/** The disk tag and backup id of a manifest object name, or undefined when it is not one. */
export function parseManifestKey(key: string): { tag: string; backupId: string } | undefined {
  const m = /^manifests\/([0-9a-f]{32})\/([A-Za-z0-9][A-Za-z0-9._-]{0,252})$/.exec(key);
  return m ? { tag: m[1] as string, backupId: m[2] as string } : undefined;
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
 * Serializes and seals a manifest with the current data key: plaintext = block map, then the header trailer.
 * The context is its object name (which binds the disk id by HMAC), so manifests cannot be swapped. A map with
 * a trailer is encoded in place (and its trailer overwritten).
 */
export function encodeManifest(keys: KeyRing, name: string, m: Manifest): Buffer {
  const head = headerBytes(m.header);
  let plain: Buffer;
  if (withTrailer.has(m.map)) {
    plain = Buffer.from(m.map.buffer, m.map.byteOffset, m.map.length + HEADER_BYTES);
    head.copy(plain, m.map.length);
  } else {
    plain = Buffer.concat([m.map, head]);
  }
  return seal(keys, plain, Buffer.from(name), 3);
}

/**
 * Opens and checks a manifest read from object `name`; throws on tampering, wrong key or unknown version, or
 * when its header names another backup than `backupId` (or another disk than `diskId`, when the caller knows it).
 */
export function decodeManifest(keys: KeyRing, sealed: Buffer, at: { name: string; backupId: string; diskId?: string }): Manifest {
  const { name, backupId, diskId } = at;
  const what = `manifest ${diskId ?? name}/${backupId}`;
  const plain = open(keys, sealed, Buffer.from(name), what);
  if (plain.length < HEADER_BYTES) throw new Error(`${what} is too short`);
  let header: ManifestHeader;
  try {
    header = JSON.parse(plain.subarray(plain.length - HEADER_BYTES).toString('utf8')) as ManifestHeader;
  } catch {
    throw new Error(`${what} authenticates but its header trailer is not JSON: written by an incompatible Tresor version`);
  }
  if (header.format !== 'tresor-disk-manifest' || header.version !== 1) {
    throw new Error(`${what} has unsupported format ${header.format} v${header.version}`);
  }
  if (header.backupId !== backupId || (diskId !== undefined && header.diskId !== diskId)) {
    throw new Error(`${what} authenticates but its header names ${header.diskId}/${header.backupId}`);
  }
  const map = plain.subarray(0, plain.length - HEADER_BYTES);
  const expected = blockCount(header.diskSize, header.blockSize) * ID_BYTES;
  if (map.length !== expected) throw new Error(`${what} block map has ${map.length} bytes, expected ${expected}`);
  withTrailer.add(map);
  return { header, map };
}
