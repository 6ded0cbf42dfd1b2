// Garbage collection: delete blocks no published manifest references, never while a backup is in flight.
import { acquireLock, liveLocks, removeStaleLocks } from './locks.ts';
import { idAt } from './manifest.ts';
import { idFromBlockKey, type Vault } from './vault.ts';

/** Options for gcVault. */
export interface GcOptions {
  /** Unreferenced blocks younger than this are kept (covers writers that lost their lock). Default 1 h. */
  readonly graceMs?: number;
  /** Allow deleting when the vault has no manifest at all (off: an empty listing may be an outage). */
  readonly allowEmpty?: boolean;
  readonly dryRun?: boolean;
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
}

async function referenced(v: Vault): Promise<{ refs: Set<string>; manifests: number }> {
  const refs = new Set<string>();
  const all = await v.listAllManifests();
  for (const { diskId, backupId } of all) {
    // Any manifest that cannot be read aborts GC: its references are unknown, so nothing is provably unused.
    const m = await v.getManifest(diskId, backupId);
    for (let i = 0; i < m.map.length / 32; i++) {
      const id = idAt(m.map, i);
      if (!id.every((x) => x === 0)) refs.add(id.toString('hex'));
    }
  }
  return { refs, manifests: all.length };
}

/** Unreferenced blocks older than the cutoff, and counts of what was seen and kept. */
async function candidates(v: Vault, refs: Set<string>, cutoff: number): Promise<{ doomed: { key: string; size: number }[]; seen: number; keptForGrace: number }> {
  const doomed: { key: string; size: number }[] = [];
  let seen = 0;
  let keptForGrace = 0;
  for await (const obj of v.store.list('blocks/')) {
    const id = idFromBlockKey(obj.key);
    if (!id) continue;
    seen++;
    if (refs.has(id)) continue;
    if (obj.modified.getTime() > cutoff) keptForGrace++;
    else doomed.push({ key: obj.key, size: obj.size });
  }
  return { doomed, seen, keptForGrace };
}

/** Runs one GC pass under a GC lock; defers (deletes nothing) while any backup holds a live lock. */
export async function gcVault(v: Vault, o: GcOptions = {}): Promise<GcReport> {
  const graceMs = o.graceMs ?? 3_600_000;
  const lock = await acquireLock(v.store, 'gc', 'gc');
  try {
    // Written our lock first, now look for backups: a backup starting after this point waits for us.
    const busy = await liveLocks(v.store, 'backup');
    const empty = { manifests: 0, blocksReferenced: 0, blocksSeen: 0, blocksDeleted: 0, bytesDeleted: 0, keptForGrace: 0 };
    if (busy.length > 0) {
      return { deferred: true, reason: `${busy.length} backup(s) in flight (${busy.map((b) => b.owner).join(', ')}): deleted nothing`, ...empty };
    }
    // Only now, with no live backup, are stale locks provably dead: their owners never refreshed them.
    if (!o.dryRun) await removeStaleLocks(v.store, 'backup');
    const { refs, manifests } = await referenced(v);
    const { doomed, seen, keptForGrace } = await candidates(v, refs, Date.now() - graceMs);
    if (manifests === 0 && seen > 0 && !o.allowEmpty) {
      throw new Error(`vault ${v.store.location} lists no manifests but ${seen} blocks: refusing to delete (an empty listing may be an outage); pass --allow-empty if the vault really has no backups`);
    }
    let bytesDeleted = 0;
    if (!o.dryRun) {
      for (const d of doomed) {
        await v.store.delete(d.key);
        bytesDeleted += d.size;
      }
    }
    return {
      deferred: false,
      reason: o.dryRun ? 'dry run: deleted nothing' : 'done',
      manifests,
      blocksReferenced: refs.size,
      blocksSeen: seen,
      blocksDeleted: o.dryRun ? 0 : doomed.length,
      bytesDeleted,
      keptForGrace,
    };
  } finally {
    await lock.release();
  }
}
