// Condemned sets (ADR 0015): the first phase of GC writes the unreferenced blocks it would delete, one sealed
// object per first id byte; only a later pass, a safety margin after, deletes what is still unreferenced and
// untouched. A backup reads them before it publishes and re-uploads any condemned block it references.
import { randomBytes } from 'node:crypto';
import { ID_BYTES, open, seal, SEAL_OVERHEAD } from './codec.ts';
import type { ObjectStore } from './store.ts';

/** Where condemned sets live: gc/condemned/<first id byte in hex>/<pass id>. */
export const CONDEMNED_PREFIX = 'gc/condemned/';
/** Largest condemned object read back (32 B per id; a pass splits bigger sets). */
export const MAX_CONDEMNED_IDS = 1 << 20;

/** A condemned set as a listing shows it. */
export interface CondemnedObject {
  readonly key: string;
  /** The first byte of every id in it, as two hex digits. */
  readonly shard: string;
  /** When the store wrote it (its own clock). */
  readonly writtenAt: number;
}

/** A new pass id: sortable, unique among concurrent writers. */
export function passId(storeTime: number): string {
  return `${new Date(storeTime).toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}

/** Lists condemned sets, all or of one shard ('00'..'ff'). */
export async function listCondemned(store: ObjectStore, shard?: string): Promise<CondemnedObject[]> {
  const out: CondemnedObject[] = [];
  for await (const o of store.list(shard === undefined ? CONDEMNED_PREFIX : `${CONDEMNED_PREFIX}${shard}/`)) {
    const m = /^gc\/condemned\/([0-9a-f]{2})\/[A-Za-z0-9-]+$/.exec(o.key);
    if (m) out.push({ key: o.key, shard: m[1] as string, writtenAt: o.modified.getTime() });
  }
  return out;
}

/** Reads and authenticates a condemned set: its ids, sorted (a forged or moved set fails authentication). */
export async function readCondemned(store: ObjectStore, key: Buffer, obj: CondemnedObject): Promise<Buffer> {
  const ids = open(key, await store.get(obj.key, MAX_CONDEMNED_IDS * ID_BYTES + SEAL_OVERHEAD), Buffer.from(obj.key), `condemned set ${obj.key}`);
  if (ids.length % ID_BYTES !== 0 || ids.length > MAX_CONDEMNED_IDS * ID_BYTES) throw new Error(`condemned set ${obj.key} has a bad length ${ids.length}`);
  return ids;
}

/** Writes the sorted ids of one shard as one or more sealed condemned sets. */
export async function writeCondemned(store: ObjectStore, key: Buffer, set: { shard: string; pass: string; sorted: Buffer }): Promise<number> {
  const { shard, pass, sorted } = set;
  let n = 0;
  for (let at = 0; at < sorted.length; at += MAX_CONDEMNED_IDS * ID_BYTES) {
    const name = `${CONDEMNED_PREFIX}${shard}/${pass}-${n++}`;
    await store.put(name, seal(key, sorted.subarray(at, at + MAX_CONDEMNED_IDS * ID_BYTES), Buffer.from(name)));
  }
  return n;
}
