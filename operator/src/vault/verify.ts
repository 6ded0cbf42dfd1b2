// Verify: every block a published manifest names is present, and with readData decrypts and hashes to its id.
import { openBlock, SEAL_OVERHEAD } from './codec.ts';
import { idAt } from './manifest.ts';
import { blockKey, idFromBlockKey, type Vault } from './vault.ts';

/** Options for verifyVault. */
export interface VerifyOptions {
  /** Download, decrypt and rehash every referenced block. */
  readonly readData?: boolean;
  /** Move corrupt blocks aside (quarantine/) so the next full backup re-uploads them. */
  readonly repair?: boolean;
  readonly concurrency?: number;
}

/** What verify found; ok is true only when nothing is missing or corrupt. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly manifests: number;
  readonly blocksReferenced: number;
  readonly blocksChecked: number;
  readonly badManifests: { name: string; error: string }[];
  readonly missingBlocks: string[];
  readonly corruptBlocks: { id: string; error: string }[];
  /** Backups that reference a missing or corrupt block (disk/backup). */
  readonly damagedBackups: string[];
  readonly quarantined: number;
}

async function referencedBlocks(v: Vault, bad: VerifyReport['badManifests']): Promise<{ refs: Map<string, string[]>; count: number }> {
  const refs = new Map<string, string[]>();
  let count = 0;
  for (const { diskId, backupId } of await v.listAllManifests()) {
    try {
      const m = await v.getManifest(diskId, backupId);
      count++;
      const name = `${diskId}/${backupId}`;
      for (let i = 0; i < m.map.length / 32; i++) {
        const id = idAt(m.map, i);
        if (id.every((x) => x === 0)) continue;
        const hex = id.toString('hex');
        const users = refs.get(hex);
        if (!users) refs.set(hex, [name]);
        else if (users.at(-1) !== name) users.push(name);
      }
    } catch (err) {
      bad.push({ name: `${diskId}/${backupId}`, error: (err as Error).message });
    }
  }
  return { refs, count };
}

async function checkData(v: Vault, ids: string[], concurrency: number): Promise<{ id: string; error: string }[]> {
  const corrupt: { id: string; error: string }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const hex = ids[next++] as string;
      const id = Buffer.from(hex, 'hex');
      try {
        await openBlock(v.keys, await v.store.get(blockKey(id), v.config.blockSize + SEAL_OVERHEAD), id);
      } catch (err) {
        corrupt.push({ id: hex, error: (err as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return corrupt;
}

/** Checks a vault; never changes it unless repair is set (and then only moves corrupt blocks aside). */
export async function verifyVault(v: Vault, o: VerifyOptions = {}): Promise<VerifyReport> {
  const badManifests: VerifyReport['badManifests'] = [];
  const { refs, count } = await referencedBlocks(v, badManifests);
  const present = new Set<string>();
  for await (const obj of v.store.list('blocks/')) {
    const id = idFromBlockKey(obj.key);
    if (id) present.add(id);
  }
  const missingBlocks = [...refs.keys()].filter((id) => !present.has(id));
  const toRead = o.readData ? [...refs.keys()].filter((id) => present.has(id)) : [];
  const corruptBlocks = await checkData(v, toRead, o.concurrency ?? 8);
  let quarantined = 0;
  if (o.repair) {
    for (const { id } of corruptBlocks) {
      const key = blockKey(Buffer.from(id, 'hex'));
      // Copy first, then delete: the evidence survives a crash between the two steps.
      await v.store.put(`quarantine/${key}`, await v.store.get(key));
      await v.store.delete(key);
      quarantined++;
    }
  }
  const damaged = new Set<string>();
  for (const id of [...missingBlocks, ...corruptBlocks.map((c) => c.id)]) for (const n of refs.get(id) ?? []) damaged.add(n);
  return {
    ok: badManifests.length === 0 && missingBlocks.length === 0 && corruptBlocks.length === 0,
    manifests: count,
    blocksReferenced: refs.size,
    blocksChecked: toRead.length,
    badManifests,
    missingBlocks,
    corruptBlocks,
    damagedBackups: [...damaged].sort(),
    quarantined,
  };
}
