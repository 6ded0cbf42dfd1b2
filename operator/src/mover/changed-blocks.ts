// Changed-block lists: byte ranges as a CSI SnapshotMetadata GetMetadataDelta stream gives them.
import { readFile } from 'node:fs/promises';
import type { Extent } from './extents.ts';

/**
 * Parses a changed-block list: one range per line, "OFFSET LENGTH" in decimal bytes, or a JSON object
 * {"byteOffset": N, "sizeBytes": N} (the CSI BlockMetadata field names). Blank lines and '#' comments are
 * ignored. Ranges may overlap and come in any order.
 */
export function parseChangedBlocks(text: string, source = 'changed-block list'): Extent[] {
  const out: Extent[] = [];
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let offset: number;
    let length: number;
    if (line.startsWith('{')) {
      const o = JSON.parse(line) as { byteOffset?: number | string; sizeBytes?: number | string };
      offset = Number(o.byteOffset);
      length = Number(o.sizeBytes);
    } else {
      const m = /^(\d+)\s+(\d+)$/.exec(line);
      offset = m ? Number(m[1]) : NaN;
      length = m ? Number(m[2]) : NaN;
    }
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new Error(`${source} line ${n + 1}: expected "OFFSET LENGTH" or {"byteOffset","sizeBytes"}, got '${line.slice(0, 60)}'`);
    }
    if (length > 0) out.push({ start: offset, end: offset + length });
  });
  return out;
}

/** Reads and parses a changed-block list file. */
export async function readChangedBlocks(path: string): Promise<Extent[]> {
  return parseChangedBlocks(await readFile(path, 'utf8'), path);
}

/** Block indices touched by the ranges, sorted and unique, limited to blocks below blockLimit. */
export function changedBlockIndices(ranges: readonly Extent[], blockSize: number, blockLimit: number): number[] {
  const set = new Set<number>();
  for (const r of ranges) {
    const last = Math.min(Math.ceil(r.end / blockSize), blockLimit);
    for (let i = Math.floor(r.start / blockSize); i < last; i++) set.add(i);
  }
  return [...set].sort((a, b) => a - b);
}
