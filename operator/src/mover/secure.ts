// The check a backup runs before it publishes (ADR 0015): every block its new map references exists, and
// none is condemned by GC; missing or condemned blocks are read again from the source and re-uploaded.
// This covers blocks reused from the parent map or by dedup, blocks a GC deleted or is about to delete,
// and blocks `vault verify --repair` moved to quarantine.
import { performance } from 'node:perf_hooks';
import { ID_BYTES } from '../vault/codec.ts';
import { listCondemned, readCondemned } from '../vault/condemned.ts';
import { lowerBound, prefixOf } from '../vault/idset.ts';
import { waitForNoLocks } from '../vault/locks.ts';
import { blockKey, idFromBlockKey, type Vault } from '../vault/vault.ts';
import { forEachBounded } from './limits.ts';

/** A backup publishes within this time of its last check, or checks again; GC's margin is larger (MIN_MARGIN_MS). */
export const PUBLISH_WINDOW_MS = 5 * 60_000;
/** On S3, disks with at least this many distinct blocks check existence with one listing instead of HEADs. */
const LIST_FROM_BLOCKS = 4096;
/** How long a backup that rescued condemned blocks waits for a running GC pass to end. */
const GC_PASS_WAIT_MS = 2 * 3_600_000;

/** How the check learns which blocks exist: one listing of the vault's blocks, or one HEAD per block. */
export type ExistenceCheck = 'list' | 'head';

/** Inputs of secureReferences. */
export interface SecureOptions {
  readonly vault: Vault;
  readonly map: Buffer;
  /** Reads block `b` from the source again and stores it unconditionally (new modification time). */
  readonly reupload: (b: number) => Promise<void>;
  readonly signal: AbortSignal;
  readonly check?: ExistenceCheck;
  readonly monotonic?: () => number;
}

/** What the check found and did. */
export interface SecureReport {
  /** Monotonic time at which the check began: the manifest must be published within PUBLISH_WINDOW_MS of it. */
  readonly checkedAt: number;
  readonly uniqueBlocks: number;
  readonly missing: number;
  readonly condemned: number;
  readonly reuploaded: number;
  readonly checkMs: number;
}

/** The map's distinct non-zero ids, sorted, as block indices plus their 8-byte prefixes. */
class MapIndex {
  readonly blocks: Uint32Array;
  readonly prefixes: BigUint64Array;
  private readonly map: Buffer;

  constructor(map: Buffer) {
    this.map = map;
    const n = map.length / ID_BYTES;
    const pre = new BigUint64Array(n);
    let live = 0;
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      pre[i] = prefixOf(map, i * ID_BYTES);
      if (pre[i] !== 0n || !map.subarray(i * ID_BYTES, (i + 1) * ID_BYTES).every((x) => x === 0)) idx[live++] = i;
    }
    const order = idx.subarray(0, live).sort((a, b) => {
      const pa = pre[a] as bigint;
      const pb = pre[b] as bigint;
      return pa < pb ? -1 : pa > pb ? 1 : map.compare(map, b * ID_BYTES, (b + 1) * ID_BYTES, a * ID_BYTES, (a + 1) * ID_BYTES);
    });
    let u = 0;
    for (let r = 0; r < order.length; r++) {
      const i = order[r] as number;
      const prev = u > 0 ? (order[u - 1] as number) : -1;
      if (prev >= 0 && map.compare(map, prev * ID_BYTES, (prev + 1) * ID_BYTES, i * ID_BYTES, (i + 1) * ID_BYTES) === 0) continue;
      order[u++] = i;
    }
    this.blocks = order.slice(0, u);
    this.prefixes = new BigUint64Array(u);
    for (let k = 0; k < u; k++) this.prefixes[k] = pre[this.blocks[k] as number] as bigint;
  }

  /** Position of id among the distinct ids, or -1. */
  find(id: Uint8Array, at = 0): number {
    const x = prefixOf(id, at);
    for (let k = lowerBound(this.prefixes, x); k < this.prefixes.length && this.prefixes[k] === x; k++) {
      const b = this.blocks[k] as number;
      if (this.map.compare(id, at, at + ID_BYTES, b * ID_BYTES, (b + 1) * ID_BYTES) === 0) return k;
    }
    return -1;
  }

  /** The id at position k. */
  id(k: number): Buffer {
    const b = this.blocks[k] as number;
    return this.map.subarray(b * ID_BYTES, (b + 1) * ID_BYTES);
  }
}

/**
 * A filesystem answers a stat far cheaper than a walk of the whole vault (test/bench/gc.ts: 5 s vs. 41 s for
 * 90 000 blocks in a vault of a million); on S3 one LIST returns 1000 keys, so large disks list.
 */
function defaultCheck(v: Vault, unique: number): ExistenceCheck {
  return v.store.location.startsWith('file://') || unique < LIST_FROM_BLOCKS ? 'head' : 'list';
}

async function condemnedPositions(v: Vault, ix: MapIndex): Promise<Set<number>> {
  const hits = new Set<number>();
  for (const obj of await listCondemned(v.store)) {
    const ids = await readCondemned(v.store, v.keys.metadata, obj);
    for (let at = 0; at < ids.length; at += ID_BYTES) {
      const k = ix.find(ids, at);
      if (k >= 0) hits.add(k);
    }
  }
  return hits;
}

async function missingPositions(v: Vault, ix: MapIndex, check: ExistenceCheck, signal: AbortSignal): Promise<number[]> {
  const n = ix.blocks.length;
  if (check === 'head') {
    const out: number[] = [];
    await forEachBounded(Array.from({ length: n }, (_, k) => k), 16, async (k) => {
      signal.throwIfAborted();
      if (!(await v.store.has(blockKey(ix.id(k))))) out.push(k);
    });
    return out.sort((a, b) => a - b);
  }
  const seen = new Uint8Array(n);
  const shards = new Set<number>();
  for (let k = 0; k < n; k++) shards.add(ix.id(k)[0] as number);
  for (const s of [...shards].sort((a, b) => a - b)) {
    signal.throwIfAborted();
    for await (const o of v.store.list(`blocks/${s.toString(16).padStart(2, '0')}/`)) {
      const hex = idFromBlockKey(o.key);
      if (!hex) continue;
      const k = ix.find(Buffer.from(hex, 'hex'));
      if (k >= 0) seen[k] = 1;
    }
  }
  const out: number[] = [];
  for (let k = 0; k < n; k++) if (!seen[k]) out.push(k);
  return out;
}

/**
 * Makes every block the map references present and not condemned, then returns the time of the check.
 * A rescued condemned block is safe only once no GC pass that listed it before the re-upload is still
 * deleting: so the check then waits for running GC passes and checks those blocks again.
 */
export async function secureReferences(o: SecureOptions): Promise<SecureReport> {
  const mono = o.monotonic ?? (() => performance.now());
  const started = performance.now();
  const ix = new MapIndex(o.map);
  let missingTotal = 0;
  let condemnedTotal = 0;
  let reuploaded = 0;
  for (;;) {
    o.signal.throwIfAborted();
    const checkedAt = mono();
    // Condemned sets first, then existence: a set written after this listing cannot lead to a deletion
    // before checkedAt + GC's margin, and we publish within PUBLISH_WINDOW_MS (ADR 0015).
    const condemned = await condemnedPositions(o.vault, ix);
    const missing = await missingPositions(o.vault, ix, o.check ?? defaultCheck(o.vault, ix.blocks.length), o.signal);
    const fix = [...new Set([...missing, ...condemned])].sort((a, b) => a - b);
    missingTotal += missing.length;
    condemnedTotal += condemned.size;
    await forEachBounded(fix, 8, async (k) => {
      o.signal.throwIfAborted();
      await o.reupload(ix.blocks[k] as number);
    });
    reuploaded += fix.length;
    if (fix.length > 0) await o.vault.store.sync();
    if (condemned.size > 0) {
      await waitForNoLocks(o.vault.store, 'gc', GC_PASS_WAIT_MS, o.signal);
      let lost = false;
      for (const k of condemned) if (!(await o.vault.store.has(blockKey(ix.id(k))))) lost = true;
      if (lost) continue;
    }
    return { checkedAt, uniqueBlocks: ix.blocks.length, missing: missingTotal, condemned: condemnedTotal, reuploaded, checkMs: Math.round(performance.now() - started) };
  }
}
