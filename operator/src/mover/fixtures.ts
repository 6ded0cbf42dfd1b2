// Fixture builders for data-path tests and the benchmark: disk images with known content, and edits to them.
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Extent } from './extents.ts';

/** What fills a segment of an image. */
export type Fill = 'random' | 'text' | 'zeros';

/** A segment written into an image; everything not written is a hole. */
export interface Segment {
  readonly offset: number;
  readonly length: number;
  readonly fill: Fill;
}

const CHUNK = 1 << 20;

function chunkOf(fill: Fill, len: number, seed: number): Buffer {
  if (fill === 'random') return randomBytes(len);
  if (fill === 'zeros') return Buffer.alloc(len);
  const line = `line ${seed} of a compressible log file, with the same words again and again\n`;
  return Buffer.from(line.repeat(Math.ceil(len / line.length)).slice(0, len));
}

/** Writes a sparse image of `size` bytes holding the given segments. */
export async function writeImage(path: string, size: number, segments: readonly Segment[]): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
    for (const s of segments) {
      for (let at = 0; at < s.length; at += CHUNK) {
        const len = Math.min(CHUNK, s.length - at);
        await fh.write(chunkOf(s.fill, len, s.offset + at), 0, len, s.offset + at);
      }
    }
  } finally {
    await fh.close();
  }
}

/** The image kinds tests restore byte for byte. */
export function imageKinds(mib: number): Record<string, { size: number; segments: Segment[] }> {
  const M = 1 << 20;
  const size = mib * M;
  return {
    random: { size, segments: [{ offset: 0, length: size, fill: 'random' }] },
    mixed: {
      size,
      segments: [
        { offset: 0, length: size / 4, fill: 'random' },
        { offset: size / 4, length: size / 4, fill: 'text' },
        { offset: size / 2, length: size / 8, fill: 'zeros' },
        { offset: (3 * size) / 4 + 12345, length: 3 * M + 17, fill: 'random' },
      ],
    },
    sparse: { size, segments: [{ offset: 5 * M + 100, length: 70_000, fill: 'random' }, { offset: size - M, length: M, fill: 'text' }] },
    'all-zero holes': { size, segments: [] },
    'all-zero written': { size, segments: [{ offset: 0, length: size, fill: 'zeros' }] },
    'odd-sized': { size: size + 777, segments: [{ offset: 0, length: size + 777, fill: 'random' }] },
    'tiny odd': { size: 4097, segments: [{ offset: 0, length: 4097, fill: 'text' }] },
  };
}

/** Overwrites `count` distinct blocks with random bytes (one small write each); returns the changed ranges. */
export async function changeBlocks(path: string, size: number, blockSize: number, count: number): Promise<Extent[]> {
  const blocks = Math.floor(size / blockSize);
  const picked = new Set<number>();
  while (picked.size < Math.min(count, blocks)) picked.add(Math.floor(Math.random() * blocks));
  const fh = await open(path, 'r+');
  const out: Extent[] = [];
  try {
    for (const b of [...picked].sort((x, y) => x - y)) {
      const at = b * blockSize + Math.floor(Math.random() * (blockSize - 4096));
      await fh.write(randomBytes(4096), 0, 4096, at);
      out.push({ start: at, end: at + 4096 });
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir(prefix = 'tresor-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** True when two files have identical bytes. */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}

/** Moves every file's modification time under root back by ms: the store's clock "passes" for what it holds. */
export async function ageFiles(root: string, ms: number): Promise<void> {
  const { readdir, stat, utimes } = await import('node:fs/promises');
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      const st = await stat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) await walk(p);
      else await utimes(p, st.atime, new Date(st.mtimeMs - ms));
    }
  };
  await walk(root);
}

/** Moves every object's modification time in a MemoryStore-like map back by ms. */
export function ageObjects(objects: Map<string, { modified: Date }>, ms: number): void {
  for (const o of objects.values()) o.modified = new Date(o.modified.getTime() - ms);
}
