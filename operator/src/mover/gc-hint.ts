// Bounded garbage: the data path allocates a megabyte-sized ArrayBuffer per block (sealed objects, downloads,
// decrypted blocks), and V8 lets an isolate hold ~64 MiB of such dead external memory before it collects.
// The data path asks for a collection after each BYTES_BETWEEN of block buffers instead (ADR 0012).
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

/** Counts bytes allocated for block data and triggers a full GC every BYTES_BETWEEN (the heap itself is small, so it is cheap; a minor GC left promoted buffers behind). */
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
