// Decides how a backup finds changed blocks (changed-block list, hash-compare, full) and which blocks it reads.
import type { BackupType, Manifest } from '../vault/manifest.ts';
import { blockCount } from '../vault/manifest.ts';
import { changedBlockIndices } from './changed-blocks.ts';
import { type Extent, overlapsData } from './extents.ts';

/** The change-detection choice and the reason recorded for it. */
export interface Plan {
  readonly type: BackupType;
  readonly reason: string;
  /** Blocks that must be read (others are holes or kept from the parent); sorted. */
  readonly reads: Iterable<number>;
  /** Number of blocks to read (for progress). */
  readonly readCount: number;
  /** Whether blocks not read copy the parent's id (true) or are holes (false). */
  readonly keepParent: boolean;
}

/** What plan() needs to know. */
export interface PlanInput {
  readonly diskSize: number;
  readonly blockSize: number;
  readonly data: readonly Extent[];
  readonly parent: Manifest | undefined;
  readonly parentWhy: string;
  readonly changed: readonly Extent[] | undefined;
}

function* dataBlocks(data: readonly Extent[], n: number, bs: number): Iterable<number> {
  const cursor = { i: 0 };
  for (let b = 0; b < n; b++) if (overlapsData(data, b * bs, (b + 1) * bs, cursor)) yield b;
}

function countDataBlocks(data: readonly Extent[], n: number, bs: number): number {
  let c = 0;
  for (const _ of dataBlocks(data, n, bs)) c++;
  return c;
}

/** Chooses the change-detection type, in the order changed-block list, hash-compare, full. */
export function plan(inp: PlanInput): Plan {
  const n = blockCount(inp.diskSize, inp.blockSize);
  const full = (reason: string): Plan => ({
    type: 'full',
    reason,
    reads: dataBlocks(inp.data, n, inp.blockSize),
    readCount: countDataBlocks(inp.data, n, inp.blockSize),
    keepParent: false,
  });
  if (!inp.parent) return full(inp.changed ? `changed-block list ignored: ${inp.parentWhy}` : inp.parentWhy);
  if (inp.parent.header.blockSize !== inp.blockSize) {
    return full(`parent ${inp.parent.header.backupId} uses ${inp.parent.header.blockSize}-byte blocks, this vault ${inp.blockSize}`);
  }
  if (inp.changed) {
    const parentBlocks = blockCount(inp.parent.header.diskSize, inp.blockSize);
    const set = new Set(changedBlockIndices(inp.changed, inp.blockSize, n));
    // Blocks the parent did not cover completely (disk grew, or its last block was partial) are changed too.
    const firstNew = inp.parent.header.diskSize % inp.blockSize === 0 ? parentBlocks : parentBlocks - 1;
    for (let b = Math.max(0, firstNew); b < n; b++) set.add(b);
    const reads = [...set].sort((a, b) => a - b);
    return { type: 'incremental-changed-blocks', reason: `${inp.changed.length} changed ranges from the list`, reads, readCount: reads.length, keepParent: true };
  }
  return {
    type: 'incremental-hash',
    reason: `no changed-block list: hashed every allocated block and compared with ${inp.parent.header.backupId}`,
    reads: dataBlocks(inp.data, n, inp.blockSize),
    readCount: countDataBlocks(inp.data, n, inp.blockSize),
    keepParent: false,
  };
}
