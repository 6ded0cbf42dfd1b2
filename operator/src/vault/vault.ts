// A vault: its config object, key check, and the names of its blocks and manifests.
import { randomBytes } from 'node:crypto';
import { decodeManifest, encodeManifest, type Manifest, manifestKey } from './manifest.ts';
import { deriveKeys, keyCheck, keyMatches, type VaultKeys } from './keys.ts';
import { NotFoundError, type ObjectStore } from './store.ts';

/** The vault's plaintext config object (no secrets: the key check is an HMAC). */
export interface VaultConfig {
  readonly format: 'tresor-vault';
  readonly version: 1;
  readonly vaultId: string;
  readonly blockSize: number;
  readonly keyCheck: string;
  readonly createdAt: string;
}

/** Default block size: see docs/adr/0010-block-size-and-object-layout.md. */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
const CONFIG_KEY = 'config';
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

/** An opened vault: a store plus the subkeys that its key check accepted. */
export class Vault {
  readonly store: ObjectStore;
  readonly config: VaultConfig;
  readonly keys: VaultKeys;

  private constructor(store: ObjectStore, config: VaultConfig, keys: VaultKeys) {
    this.store = store;
    this.config = config;
    this.keys = keys;
  }

  /** Creates a vault in an empty location; refuses when one is already there. */
  static async init(store: ObjectStore, master: Buffer, blockSize = DEFAULT_BLOCK_SIZE): Promise<Vault> {
    if (!Number.isInteger(Math.log2(blockSize)) || blockSize < 4096 || blockSize > 64 * 1024 * 1024) {
      throw new Error(`bad block size ${blockSize}: use a power of two from 4 KiB to 64 MiB`);
    }
    const exists = await store.has(CONFIG_KEY).catch((err: unknown) => {
      throw unreachable(store, err);
    });
    if (exists) throw new Error(`a vault already exists at ${store.location}`);
    const vaultId = randomBytes(16).toString('hex');
    const keys = deriveKeys(master, vaultId);
    const config: VaultConfig = {
      format: 'tresor-vault',
      version: 1,
      vaultId,
      blockSize,
      keyCheck: keyCheck(keys),
      createdAt: new Date().toISOString(),
    };
    await store.put(CONFIG_KEY, Buffer.from(JSON.stringify(config, null, 2)));
    await store.sync();
    return new Vault(store, config, keys);
  }

  /** Opens a vault and checks the key; errors say whether the vault is missing, unreachable or the key wrong. */
  static async open(store: ObjectStore, master: Buffer): Promise<Vault> {
    let raw: Buffer;
    try {
      raw = await store.get(CONFIG_KEY);
    } catch (err) {
      if (err instanceof NotFoundError) throw new Error(`no vault at ${store.location}: create one with 'tresor vault init'`);
      throw unreachable(store, err);
    }
    const config = JSON.parse(raw.toString('utf8')) as VaultConfig;
    if (config.format !== 'tresor-vault' || config.version !== 1) {
      throw new Error(`${store.location} holds an unsupported vault format ${config.format} v${config.version}`);
    }
    const keys = deriveKeys(master, config.vaultId);
    if (!keyMatches(keys, config.keyCheck)) {
      throw new Error(`wrong key for vault ${store.location}: the key file does not match the key the vault was created with`);
    }
    return new Vault(store, config, keys);
  }

  /** Writes a manifest; callers publish it only after every block it names is stored and synced. */
  async putManifest(m: Manifest): Promise<void> {
    await this.store.put(manifestKey(m.header.diskId, m.header.backupId), encodeManifest(this.keys.manifest, m));
    await this.store.sync();
  }

  /** Reads and authenticates one manifest. */
  async getManifest(diskId: string, backupId: string): Promise<Manifest> {
    checkDiskId(diskId);
    let sealed: Buffer;
    try {
      sealed = await this.store.get(manifestKey(diskId, backupId));
    } catch (err) {
      if (err instanceof NotFoundError) throw new Error(`backup ${backupId} of disk ${diskId} not found in vault ${this.store.location}`);
      throw err;
    }
    return decodeManifest(this.keys.manifest, sealed, diskId, backupId);
  }

  /** Backup ids of one disk, oldest first (ids sort by creation time). */
  async listBackups(diskId: string): Promise<string[]> {
    checkDiskId(diskId);
    const ids: string[] = [];
    for await (const o of this.store.list(`manifests/${diskId}/`)) ids.push(o.key.slice(`manifests/${diskId}/`.length));
    return ids.sort();
  }

  /** Every (disk, backup) pair that has a published manifest. */
  async listAllManifests(): Promise<{ diskId: string; backupId: string }[]> {
    const out: { diskId: string; backupId: string }[] = [];
    for await (const o of this.store.list('manifests/')) {
      const [, diskId, backupId] = o.key.split('/');
      if (diskId && backupId) out.push({ diskId, backupId });
    }
    return out;
  }
}

/** A new backup id: sortable by creation time, unique across concurrent writers. */
export function newBackupId(now: Date = new Date()): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}
