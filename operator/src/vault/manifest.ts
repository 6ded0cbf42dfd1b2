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

/** Serializes and seals a manifest; the context binds it to its own name so manifests cannot be swapped. */
export function encodeManifest(key: Buffer, m: Manifest): Buffer {
  const head = Buffer.from(JSON.stringify(m.header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  return seal(key, Buffer.concat([len, head, m.map]), context(m.header), 3);
}

/** Opens and checks a manifest read from diskId/backupId; throws on tampering, wrong key or unknown version. */
export function decodeManifest(key: Buffer, sealed: Buffer, diskId: string, backupId: string): Manifest {
  const plain = open(key, sealed, context({ diskId, backupId }), `manifest ${diskId}/${backupId}`);
  const len = plain.readUInt32BE(0);
  const header = JSON.parse(plain.subarray(4, 4 + len).toString('utf8')) as ManifestHeader;
  if (header.format !== 'tresor-disk-manifest' || header.version !== 1) {
    throw new Error(`manifest ${diskId}/${backupId} has unsupported format ${header.format} v${header.version}`);
  }
  const map = plain.subarray(4 + len);
  if (map.length !== blockCount(header.diskSize, header.blockSize) * ID_BYTES) {
    throw new Error(`manifest ${diskId}/${backupId} block map has ${map.length} bytes, expected ${blockCount(header.diskSize, header.blockSize) * ID_BYTES}`);
  }
  return { header, map };
}
