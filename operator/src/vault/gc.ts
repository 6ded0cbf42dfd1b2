// Garbage collection in two phases beside running backups (ADR 0015): a pass condemns unreferenced blocks
// older than the grace period; a block is deleted only by a later pass, at least a safety margin after it was
// condemned (store clock), when it is still unreferenced and was not re-uploaded since. Reference sets are
// built one shard of the id space at a time, so memory stays bounded whatever the vault's size.
import { ID_BYTES } from './codec.ts';
import { type CondemnedObject, listCondemned, passId, readCondemned, writeCondemned } from './condemned.ts';
import { PrefixSet, sortedHas, sortIds } from './idset.ts';
import { acquireLock, liveLocks, type LockOptions, removeStaleLocks, storeNow } from './locks.ts';
import { idAt, parseManifestKey } from './manifest.ts';
import { NotFoundError } from './store.ts';
import { idFromBlockKey, type Vault } from './vault.ts';

/** Default grace: unreferenced blocks younger than this are never condemned (they may belong to a running backup). */
export const DEFAULT_GRACE_MS = 3_600_000;
/** Default safety margin between condemning a block and deleting it; must exceed a backup's publish window. */
export const DEFAULT_MARGIN_MS = 3_600_000;
/** Below this margin a pass needs `force` (a backup publishes within PUBLISH_WINDOW_MS of its last check). */
export const MIN_MARGIN_MS = 15 * 60_000;
/** Memory for one shard's reference set (8 bytes per id). */
export const DEFAULT_REF_MEMORY = 64 * 1024 * 1024;
const DELETE_BATCH = 1000;

/** Options for gcVault. */
export interface GcOptions {
  /** Unreferenced blocks modified within this time are not condemned yet. Default 1 h. */
  readonly graceMs?: number;
  /** A condemned block is deleted only by a pass that starts this long after its set was written. Default 1 h. */
  readonly marginMs?: number;
  /** Allows a margin under MIN_MARGIN_MS (tests, or an operator who knows no backup runs). */
  readonly force?: boolean;
  /** Allow deleting when the vault has no manifest at all (off: an empty listing may be an outage). */
  readonly allowEmpty?: boolean;
  readonly dryRun?: boolean;
  /** Memory budget of one shard's reference set; more shards when the vault's manifests need more. */
  readonly refMemoryBytes?: number;
  readonly lock?: LockOptions;
  readonly signal?: AbortSignal;
}

/** What GC did. */
export interface GcReport {
  readonly deferred: boolean;
  readonly reason: string;
  readonly manifests: number;
  readonly blocksReferenced: number;
  readonly blocksSeen: number;
  readonly blocksDeleted: number;
  readonly bytesDeleted: number;
  readonly keptForGrace: number;
  /** Unreferenced blocks newly written to a condemned set (deleted by a later pass if still unreferenced). */
  readonly blocksCondemned: number;
  /** Condemned blocks kept because a backup re-uploaded them after they were condemned. */
  readonly blocksRescued: number;
  readonly shards: number;
  readonly tempFilesRemoved: number;
}

interface Pass {
  readonly v: Vault;
  readonly o: GcOptions;
  readonly now: number;
  readonly id: string;
  readonly assertFresh: () => void;
  /** Published manifests by object name (keyed disk tags, ADR 0018): GC never needs the readable disk id. */
  readonly manifests: readonly { name: string; backupId: string }[];
  /** Doomed blocks not deleted yet, and processed condemned sets to remove once they are. */
  readonly pending: { key: string; size: number }[];
  readonly processedSets: string[];
  stats: { referenced: number; seen: number; deleted: number; bytes: number; grace: number; condemned: number; rescued: number };
}

/** The ids of every manifest that fall in shards [lo, hi), as a prefix set. A manifest forgotten meanwhile is skipped. */
async function referenced(p: Pass, lo: number, hi: number): Promise<PrefixSet> {
  const set = new PrefixSet();
  for (const { name, backupId } of p.manifests) {
    p.o.signal?.throwIfAborted();
    let map: Buffer;
    try {
      map = (await p.v.getManifestByName(name, backupId)).map;
    } catch (err) {
      // Forgotten since the listing: not a reference any more. Any other error aborts: references unknown.
      if (err instanceof NotFoundError) continue;
      throw err;
    }
    for (let i = 0; i < map.length / ID_BYTES; i++) {
      const b = map[i * ID_BYTES] as number;
      if (b < lo || b >= hi) continue;
      if (idAt(map, i).every((x) => x === 0)) continue;
      set.add(map, i * ID_BYTES);
    }
  }
  set.seal();
  return set;
}

/** Deletes pending blocks in full batches (all of them when `all`). */
async function flush(p: Pass, all: boolean): Promise<void> {
  while (p.pending.length >= DELETE_BATCH || (all && p.pending.length > 0)) {
    // Our own lease first: a GC whose lock lapsed may overlap another GC's or a backup's assumptions.
    p.assertFresh();
    p.o.signal?.throwIfAborted();
    const batch = p.pending.splice(0, DELETE_BATCH);
    await p.v.store.deleteMany(batch.map((k) => k.key));
    p.stats.deleted += batch.length;
    p.stats.bytes += batch.reduce((s, k) => s + k.size, 0);
  }
}

/** One first-byte shard: delete what was condemned long enough ago and is untouched, condemn the new garbage. */
async function sweepShard(p: Pass, shard: string, refs: PrefixSet): Promise<void> {
  const { v, o, now } = p;
  const margin = o.marginMs ?? DEFAULT_MARGIN_MS;
  const grace = o.graceMs ?? DEFAULT_GRACE_MS;
  const sets = await listCondemned(v.store, shard);
  const old: { obj: CondemnedObject; ids: Buffer }[] = [];
  const young: Buffer[] = [];
  for (const obj of sets) {
    const ids = await readCondemned(v.store, v.keys.metadata, obj);
    if (now - obj.writtenAt >= margin) old.push({ obj, ids });
    else young.push(ids);
  }
  const doomed = p.pending;
  const fresh: Buffer[] = [];
  for await (const b of v.store.list(`blocks/${shard}/`)) {
    const hex = idFromBlockKey(b.key);
    if (!hex) continue;
    p.stats.seen++;
    const id = Buffer.from(hex, 'hex');
    if (refs.has(id)) continue;
    const modified = b.modified.getTime();
    if (now - modified < grace) {
      p.stats.grace++;
      continue;
    }
    // Deletable only if condemned a margin ago and not re-uploaded since (a backup "rescues" a block that way).
    // Strictly earlier: S3 stamps whole seconds, so a re-upload in the set's own second must count as newer.
    const condemnedIn = old.filter((s) => sortedHas(s.ids, id));
    if (condemnedIn.some((s) => modified < s.obj.writtenAt)) doomed.push({ key: b.key, size: b.size });
    else {
      if (condemnedIn.length > 0) p.stats.rescued++;
      if (!young.some((s) => sortedHas(s, id))) fresh.push(id);
    }
  }
  p.stats.condemned += fresh.length;
  if (o.dryRun) {
    doomed.length = 0;
    return;
  }
  // Deleting first frees space on a full filesystem before anything new is written.
  await flush(p, false);
  p.assertFresh();
  if (fresh.length > 0) await writeCondemned(v.store, v.keys.metadata, { shard, pass: p.id, sorted: sortIds(fresh) });
  // Processed: every id in them will be deleted, or is referenced, rescued or condemned again.
  p.processedSets.push(...old.map((s) => s.obj.key));
}

async function listManifests(v: Vault, allowEmpty: boolean): Promise<{ manifests: { name: string; backupId: string }[]; manifestBytes: number }> {
  let manifestBytes = 0;
  const manifests: { name: string; backupId: string }[] = [];
  for await (const m of v.store.list('manifests/')) {
    const parsed = parseManifestKey(m.key);
    if (!parsed) continue;
    manifests.push({ name: m.key, backupId: parsed.backupId });
    manifestBytes += m.size;
  }
  if (manifests.length === 0 && !allowEmpty) {
    for await (const b of v.store.list('blocks/')) {
      throw new Error(`vault ${v.store.location} lists no manifests but has blocks (${b.key}, ...): refusing to delete (an empty listing may be an outage); pass --allow-empty if the vault really has no backups`);
    }
  }
  return { manifests, manifestBytes };
}

function shardPlan(manifestBytes: number, budget: number): number {
  // A sealed map costs ~32 B per non-zero block (ids do not compress) and the set 8 B per id.
  return Math.min(256, Math.max(1, Math.ceil(manifestBytes / 4 / budget)));
}

/** Runs one GC pass under a GC lock; defers only while another GC pass runs. Backups run alongside. */
export async function gcVault(v: Vault, o: GcOptions = {}): Promise<GcReport> {
  const margin = o.marginMs ?? DEFAULT_MARGIN_MS;
  if (margin < MIN_MARGIN_MS && !o.force) {
    throw new Error(`a GC safety margin of ${margin} ms is below ${MIN_MARGIN_MS} ms: a backup that checked the condemned sets just before could lose blocks; pass --force if no backup can be running`);
  }
  const lock = await acquireLock(v.store, 'gc', 'gc', o.lock);
  const empty = { manifests: 0, blocksReferenced: 0, blocksSeen: 0, blocksDeleted: 0, bytesDeleted: 0, keptForGrace: 0, blocksCondemned: 0, blocksRescued: 0, shards: 0, tempFilesRemoved: 0 };
  try {
    const others = await liveLocks(v.store, 'gc', lock.key);
    if (others.length > 0) return { deferred: true, reason: `another GC pass is running (${others.map((l) => l.key).join(', ')}): deleted nothing`, ...empty };
    // The store's time before the manifest listing: deletion decisions rest on "listed after `now`".
    const now = await storeNow(v.store);
    const { manifests, manifestBytes } = await listManifests(v, o.allowEmpty === true);
    const p: Pass = {
      v, o, now, manifests, id: passId(now), assertFresh: () => lock.assertFresh(), pending: [], processedSets: [],
      stats: { referenced: 0, seen: 0, deleted: 0, bytes: 0, grace: 0, condemned: 0, rescued: 0 },
    };
    let tempFilesRemoved = 0;
    if (!o.dryRun) {
      await removeStaleLocks(v.store, 'backup');
      await removeStaleLocks(v.store, 'gc');
      if (v.store.cleanTemp) tempFilesRemoved = await v.store.cleanTemp(new Date(now - (o.graceMs ?? DEFAULT_GRACE_MS)));
    }
    const shards = shardPlan(manifestBytes, o.refMemoryBytes ?? DEFAULT_REF_MEMORY);
    for (let s = 0; s < shards; s++) {
      const lo = Math.floor((256 * s) / shards);
      const hi = Math.floor((256 * (s + 1)) / shards);
      const refs = await referenced(p, lo, hi);
      p.stats.referenced += refs.size;
      for (let b = lo; b < hi; b++) await sweepShard(p, b.toString(16).padStart(2, '0'), refs);
    }
    if (!o.dryRun) {
      await flush(p, true);
      await v.store.deleteMany(p.processedSets);
    }
    return {
      deferred: false,
      reason: o.dryRun ? 'dry run: deleted nothing' : 'done',
      manifests: manifests.length,
      blocksReferenced: p.stats.referenced,
      blocksSeen: p.stats.seen,
      blocksDeleted: p.stats.deleted,
      bytesDeleted: p.stats.bytes,
      keptForGrace: p.stats.grace,
      blocksCondemned: p.stats.condemned,
      blocksRescued: p.stats.rescued,
      shards,
      tempFilesRemoved,
    };
  } finally {
    await lock.release();
  }
}
