// Compact sets of block ids for GC and the pre-publish check: 8 bytes per id instead of a 64-character string.
import { ID_BYTES } from './codec.ts';

/** The first 8 bytes of an id as a number that sorts like the id. */
export function prefixOf(buf: Uint8Array, at = 0): bigint {
  return Buffer.from(buf.buffer, buf.byteOffset + at, 8).readBigUInt64BE(0);
}

/** Index of the first element >= x in a sorted BigUint64Array. */
export function lowerBound(a: BigUint64Array, x: bigint, len = a.length): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as bigint) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A growable set of id prefixes (the first 8 bytes). Membership may answer a false "yes" for an id that shares
 * 64 bits with a member (about n/2^64 per lookup): GC then keeps a garbage block, which is safe.
 */
export class PrefixSet {
  private a = new BigUint64Array(1024);
  private n = 0;
  private sorted = 0;

  /** Adds the id that starts at `at` in buf. */
  add(buf: Uint8Array, at = 0): void {
    if (this.n === this.a.length) this.compact();
    this.a[this.n++] = prefixOf(buf, at);
  }

  /** Sorts and removes duplicates; grows only when that did not free half the room. */
  private compact(): void {
    this.seal();
    if (this.n > this.a.length / 2) {
      const b = new BigUint64Array(this.a.length * 2);
      b.set(this.a.subarray(0, this.n));
      this.a = b;
    }
  }

  /** Sorts and deduplicates; call once after the last add. */
  seal(): void {
    if (this.sorted === this.n) return;
    const view = this.a.subarray(0, this.n);
    view.sort();
    let w = 0;
    for (let r = 0; r < this.n; r++) if (w === 0 || view[r] !== view[w - 1]) view[w++] = view[r] as bigint;
    this.n = w;
    this.sorted = w;
  }

  /** True when an id with this prefix was added (seal() first). */
  has(id: Uint8Array, at = 0): boolean {
    const x = prefixOf(id, at);
    const i = lowerBound(this.a, x, this.n);
    return i < this.n && this.a[i] === x;
  }

  /** Distinct prefixes held. */
  get size(): number {
    return this.n;
  }

  /** Bytes of memory held by the set. */
  get bytes(): number {
    return this.a.byteLength;
  }
}

/** True when a sorted run of 32-byte ids (a condemned set's plaintext) holds id. */
export function sortedHas(sorted: Buffer, id: Uint8Array): boolean {
  let lo = 0;
  let hi = sorted.length / ID_BYTES;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = sorted.compare(id, 0, ID_BYTES, mid * ID_BYTES, (mid + 1) * ID_BYTES);
    if (c === 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/** Concatenates ids into one buffer sorted ascending (the format of a condemned set). */
export function sortIds(ids: readonly Buffer[]): Buffer {
  return Buffer.concat([...ids].sort(Buffer.compare));
}
