// Size and allocated (data) extents of a file or block device, through SEEK_DATA/SEEK_HOLE in a helper
// process: the static `tresor-extents` of the image (hack/extents, ADR 0100), else a python3 script.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';

/** A byte range [start, end). */
export interface Extent {
  readonly start: number;
  readonly end: number;
}

/** What the helper learned about a source. */
export interface SourceLayout {
  readonly size: number;
  /** Ranges that may hold data; everything else is a hole and reads as zeros. */
  readonly data: readonly Extent[];
  /** False when the platform could not tell holes apart: then data is the whole source. */
  readonly holesKnown: boolean;
}

// Node has no lseek: a python3 helper walks SEEK_DATA/SEEK_HOLE (ADR 0011). It prints the size, then one
// "start end" line per data extent. Devices report one extent; filesystems without hole support likewise.
const HELPER = `
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.lseek(fd, 0, os.SEEK_END)
out = [str(size)]
off = 0
try:
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == 6: break
            raise
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append("%d %d" % (start, end))
        off = end
except OSError:
    out = [str(size), "0 %d" % size, "nohole"]
sys.stdout.write("\\n".join(out) + "\\n")
`;

/** Parses the helper's output. */
export function parseLayout(text: string): SourceLayout {
  const lines = text.trim().split('\n');
  const size = Number(lines[0]);
  if (!Number.isSafeInteger(size)) throw new Error(`extent helper printed no size: ${text.slice(0, 80)}`);
  const holesKnown = !lines.includes('nohole');
  const data: Extent[] = [];
  for (const l of lines.slice(1)) {
    const m = /^(\d+) (\d+)$/.exec(l);
    if (m) data.push({ start: Number(m[1]), end: Math.min(Number(m[2]), size) });
  }
  return { size, data, holesKnown };
}

const run = promisify(execFile);

/** The image's static helper (same output as HELPER); a checkout without it uses python3. */
export const EXTENTS_HELPER = 'tresor-extents';

async function runHelper(path: string): Promise<string> {
  const opts = { maxBuffer: 256 * 1024 * 1024 };
  try {
    return (await run(EXTENTS_HELPER, [path], opts)).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return (await run('python3', ['-c', HELPER, path], opts)).stdout;
}

/**
 * Reads a source's size and data extents. Without either helper, a regular file is treated as all data
 * (zero detection still keeps zeros out of the vault, but holes are read); a device then cannot be sized.
 */
export async function sourceLayout(path: string): Promise<SourceLayout> {
  try {
    return parseLayout(await runHelper(path));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code !== 'ENOENT') throw new Error(`cannot read the layout of ${path}: ${e.stderr?.trim() || e.message}`, { cause: err });
    const st = await stat(path);
    if (!st.isFile()) throw new Error(`${EXTENTS_HELPER} (the image's) or python3 is needed to size block device ${path} (Node has no lseek)`);
    return { size: st.size, data: [{ start: 0, end: st.size }], holesKnown: false };
  }
}

/** True when block [start, end) overlaps any data extent (extents sorted); `from` is a cursor hint. */
export function overlapsData(extents: readonly Extent[], start: number, end: number, from: { i: number }): boolean {
  while (from.i < extents.length && (extents[from.i]?.end ?? 0) <= start) from.i++;
  const e = extents[from.i];
  return e !== undefined && e.start < end;
}
