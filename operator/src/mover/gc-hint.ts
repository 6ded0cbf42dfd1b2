// Bounded garbage: the data path allocates a megabyte-sized ArrayBuffer per block, and V8 lets each isolate
// (main thread and every worker) hold ~64 MiB of such external garbage before it collects. With three
// isolates that alone breaks the 256 MiB RSS budget, so every isolate asks for a cheap young-generation
// collection after each BYTES_BETWEEN of block data (ADR 0012).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const BYTES_BETWEEN = 24 * 1024 * 1024;

type GcFn = (opts?: { type?: 'minor' | 'major' }) => void;

function loadGc(): GcFn | undefined {
  const existing = (globalThis as { gc?: GcFn }).gc;
  if (existing) return existing;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as GcFn;
  } catch {
    return undefined;
  }
}

/** Counts bytes allocated for block data and triggers a minor GC every BYTES_BETWEEN. */
export class GcHint {
  private readonly gc: GcFn | undefined = loadGc();
  private since = 0;

  /** Records `bytes` of short-lived block buffers; collects when enough have piled up. */
  allocated(bytes: number): void {
    this.since += bytes;
    if (this.since < BYTES_BETWEEN || !this.gc) return;
    this.since = 0;
    this.gc({ type: 'major' });
  }
}
