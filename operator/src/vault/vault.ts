// A vault: its authenticated config, its keys, and the names of its blocks and manifests.
import { randomBytes } from 'node:crypto';
import { newConfig, parseConfig, unlockConfig, type Unwrapped, type VaultConfig } from './config.ts';
import { type VaultKeys } from './keys.ts';
import { decodeManifest, diskTag, encodeManifest, type Manifest, manifestKey, manifestPrefix, parseManifestKey } from './manifest.ts';
import { NotFoundError, type ObjectStore } from './store.ts';

export { VAULT_FORMAT_VERSION, type VaultConfig } from './config.ts';

/** Default block size: see docs/adr/0010-block-size-and-object-layout.md. */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
/** Object key of the vault's config. */
export const CONFIG_KEY = 'config';
const DISK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** Throws unless a disk id is safe to use as one path segment of an object key. */
export function checkDiskId(diskId: string): void {
  if (!DISK_ID.test(diskId)) throw new Error(`bad disk id '${diskId}': use letters, digits, '.', '_' and '-'`);
}

/** Object key of a block. */
export function blockKey(id: Uint8Array): string {
  const hex = Buffer.from(id).toString('hex');
  return `blocks/${hex.slice(0, 2)}/${hex}`;
}

/** Block id from an object key, or undefined when the key is not a block. */
export function idFromBlockKey(key: string): string | undefined {
  const m = /^blocks\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key);
  return m?.[1];
}

function unreachable(store: ObjectStore, err: unknown): Error {
  return new Error(`cannot reach vault ${store.location}: ${(err as Error).message}`, { cause: err });
}

/** Reads the config object; errors say whether the vault is missing or unreachable. */
export async function readConfigObject(store: ObjectStore): Promise<Buffer> {
  try {
    return await store.get(CONFIG_KEY);
  } catch (err) {
    if (err instanceof NotFoundError) throw new Error(`no vault at ${store.location}: create one with 'tresor vault init'`);
    throw unreachable(store, err);
  }
}

/** Reads, authenticates and unwraps a vault's config with one master key (for key rotation). */
export async function unlockVault(store: ObjectStore, master: Buffer): Promise<{ config: VaultConfig; keys: VaultKeys; unwrapped: Unwrapped; masterId: string }> {
  const config = parseConfig(await readConfigObject(store), store.location);
  return { config, ...unlockConfig(config, master, store.location) };
}

/** An opened vault: a store, its authenticated config, and the keys a master key unwrapped from it. */
export class Vault {
  readonly store: ObjectStore;
  readonly config: VaultConfig;
  readonly keys: VaultKeys;
  /** Id of the master key this vault was opened with. */
  readonly masterId: string;

  private constructor(store: ObjectStore, config: VaultConfig, keys: VaultKeys, masterId: string) {
    this.store = store;
    this.config = config;
    this.keys = keys;
    this.masterId = masterId;
  }

  /** Creates a vault in an empty location; refuses when one is already there. */
  static async init(store: ObjectStore, master: Buffer, blockSize = DEFAULT_BLOCK_SIZE): Promise<Vault> {
    const { config } = newConfig(master, blockSize);
    const exists = await store.has(CONFIG_KEY).catch((err: unknown) => {
      throw unreachable(store, err);
    });
    if (exists) throw new Error(`a vault already exists at ${store.location}`);
    await store.put(CONFIG_KEY, Buffer.from(JSON.stringify(config, null, 2)));
    await store.sync();
    return Vault.open(store, master);
  }

  /**
   * Opens a vault: authenticates its config with the master key and unwraps its keys. Errors say whether the
   * vault is missing or unreachable, of another format version, the key wrong, or the config tampered with.
   */
  static async open(store: ObjectStore, master: Buffer): Promise<Vault> {
    const { config, keys, masterId } = await unlockVault(store, master);
    return new Vault(store, config, keys, masterId);
  }

  /** The keyed id that stands for a disk in object names (HMAC of the disk id under the naming key). */
  diskTag(diskId: string): string {
    checkDiskId(diskId);
    return diskTag(this.keys.naming, diskId);
  }

  /** Object key of one manifest. */
  manifestKey(diskId: string, backupId: string): string {
    checkDiskId(diskId);
    return manifestKey(this.keys.naming, diskId, backupId);
  }

  /** Writes a manifest; callers publish it only after every block it names is stored and synced. */
  async putManifest(m: Manifest): Promise<void> {
    const name = this.manifestKey(m.header.diskId, m.header.backupId);
    await this.store.put(name, encodeManifest(this.keys.blockData, name, m));
    await this.store.sync();
  }

  /** Reads and authenticates one manifest. */
  async getManifest(diskId: string, backupId: string): Promise<Manifest> {
    const name = this.manifestKey(diskId, backupId);
    let sealed: Buffer;
    try {
      sealed = await this.store.get(name);
    } catch (err) {
      if (err instanceof NotFoundError) throw new Error(`backup ${backupId} of disk ${diskId} not found in vault ${this.store.location}`);
      throw err;
    }
    return decodeManifest(this.keys.blockData, sealed, { name, backupId, diskId });
  }

  /** Reads and authenticates one manifest by its object name (GC and verify walk names, not disk ids); NotFoundError when gone. */
  async getManifestByName(name: string, backupId: string): Promise<Manifest> {
    return decodeManifest(this.keys.blockData, await this.store.get(name), { name, backupId });
  }

  /** Backup ids of one disk, oldest first (ids sort by creation time); lists only that disk's manifests. */
  async listBackups(diskId: string): Promise<string[]> {
    const prefix = manifestPrefix(this.keys.naming, (checkDiskId(diskId), diskId));
    const ids: string[] = [];
    for await (const o of this.store.list(prefix)) {
      const parsed = parseManifestKey(o.key);
      if (parsed) ids.push(parsed.backupId);
    }
    return ids.sort();
  }

  /**
   * Every (disk, backup) pair that has a published manifest. Object names carry only disk tags, so each disk's
   * readable id comes from the sealed header of its smallest manifest (one extra read per disk).
   */
  async listAllManifests(): Promise<{ diskId: string; backupId: string }[]> {
    const byTag = new Map<string, { backupId: string; size: number }[]>();
    for await (const o of this.store.list('manifests/')) {
      const parsed = parseManifestKey(o.key);
      if (!parsed) continue;
      const list = byTag.get(parsed.tag) ?? [];
      list.push({ backupId: parsed.backupId, size: o.size });
      byTag.set(parsed.tag, list);
    }
    const out: { diskId: string; backupId: string }[] = [];
    for (const [tag, list] of byTag) {
      const diskId = await this.diskIdOf(tag, list);
      for (const { backupId } of list) out.push({ diskId, backupId });
    }
    return out;
  }

  /** The readable disk id behind a tag, from the first of its manifests that opens (smallest first). */
  private async diskIdOf(tag: string, list: readonly { backupId: string; size: number }[]): Promise<string> {
    let firstError = '';
    for (const { backupId } of [...list].sort((a, b) => a.size - b.size)) {
      const name = `manifests/${tag}/${backupId}`;
      try {
        const { header } = decodeManifest(this.keys.blockData, await this.store.get(name), { name, backupId });
        // The name is authenticated as AAD; the tag check also ties the header's disk id to it.
        if (diskTag(this.keys.naming, header.diskId) === tag) return header.diskId;
        firstError ||= `its header names disk ${header.diskId}, which is not the disk of tag ${tag}`;
      } catch (err) {
        firstError ||= (err as Error).message;
      }
    }
    throw new Error(`none of the ${list.length} manifest(s) under manifests/${tag}/ in vault ${this.store.location} can be read, so their disk is unknown: ${firstError}`);
  }
}

/** A new backup id: sortable by creation time, unique across concurrent writers. */
export function newBackupId(now: Date = new Date()): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}
