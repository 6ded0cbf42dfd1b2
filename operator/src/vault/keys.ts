// The key hierarchy of a vault (ADR 0017). The master key (the Secret's value) wraps two kinds of random keys
// kept in the authenticated config: the vault's root secret, from which the stable subkeys derive (block ids,
// object names, metadata), and the data keys that seal blocks and manifests (rotated by `tresor vault rotate-key`).
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { type KeyRing, keyIdHex, METADATA_KEY_ID, type SealKey } from './codec.ts';

/** Length of every key: master, root secret, data keys and subkeys (256 bits). */
export const KEY_BYTES = 32;

/** Subkeys of one opened vault; each is used for exactly one purpose so that no output can be replayed as another. */
export interface VaultKeys {
  /** Keyed BLAKE3 key naming blocks: equal content has equal ids inside one vault only. Stable across rotations. */
  readonly blockId: Buffer;
  /** The data keys: blocks and manifests are sealed with the current one and opened by the key id they carry. */
  readonly blockData: KeyRing;
  /** HMAC key that turns readable names (disk ids) into object names. Stable across rotations. */
  readonly naming: Buffer;
  /**
   * Seal/MAC key for vault metadata objects (locks, condemned sets, indexes): key id 0 in the codec. Derived
   * from the root secret, so it stays the same across data-key and master-key rotations.
   */
  readonly metadata: Buffer;
}

/** The keys a master key gives for one vault: its id, the key-encryption key and the config MAC key. */
export interface MasterKeys {
  /** 16 hex digits naming this master key in the config (a keyed fingerprint; reveals nothing about the key). */
  readonly id: string;
  readonly kek: Buffer;
  readonly configMac: Buffer;
}

// Keys that were printed in Tresor's docs and examples before 2026-12: anyone can read them, so a vault made
// with one of them is readable by everyone. Refused wherever a key is read.
const PUBLISHED_KEYS = new Set([
  '3f9c2a7e5b1d4c8a9e6f0b2d7c4a1e8f5b3d9c6a2e7f4b1c8d5a0e3f6b9c2d7a',
  '9d2b7e4a1c8f5b3e6a0d9c2f7b4e1a8d5c3b6f9e2a7d4c1b8e5f0a3d6c9b2e7f',
]);

/** Why a key is unusable though well-formed (published in docs, or a trivially guessable pattern), or undefined. */
export function weakKeyReason(key: Buffer): string | undefined {
  if (PUBLISHED_KEYS.has(key.toString('hex'))) return 'it is an example key printed in Tresor\'s documentation, known to everyone';
  if (new Set(key).size < 8) return 'it has fewer than 8 distinct byte values: not random';
  return undefined;
}

/** Parses a key as stored in a file or Secret: 64 hex digits (whitespace ignored) or exactly 32 raw bytes; undefined otherwise. */
export function parseKeyBytes(raw: Buffer): Buffer | undefined {
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  return raw.length === KEY_BYTES ? Buffer.from(raw) : undefined;
}

/** Creates a new random master key file (hex, mode 0600); refuses to overwrite one. */
export async function createKeyFile(path: string): Promise<Buffer> {
  const key = randomBytes(KEY_BYTES);
  await writeFile(path, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

/** Reads a master key file: 64 hex digits (whitespace ignored) or exactly 32 raw bytes; refuses published or patterned keys. */
export async function readKeyFile(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const key = parseKeyBytes(raw);
  if (!key) throw new Error(`key file ${path} must hold 64 hex digits (a 256-bit key); it holds ${raw.length} bytes`);
  const weak = weakKeyReason(key);
  if (weak) throw new Error(`key file ${path} holds an unusable key: ${weak}; make one with 'openssl rand -hex 32' or 'tresor vault init'`);
  return key;
}

function hkdf(ikm: Buffer, vaultId: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, Buffer.from(vaultId), `tresor/v2/${purpose}`, KEY_BYTES));
}

/** Derives what a master key gives for one vault; the vault id is the HKDF salt, so two vaults never share a key. */
export function masterKeys(master: Buffer, vaultId: string): MasterKeys {
  const id = createHmac('sha256', hkdf(master, vaultId, 'master-id')).update('tresor master key id').digest('hex').slice(0, 16);
  return Object.freeze({ id, kek: hkdf(master, vaultId, 'kek'), configMac: hkdf(master, vaultId, 'config-mac') });
}

/** A key ring over data keys by id, sealing with `current`. */
export function keyRing(keys: ReadonlyMap<number, Buffer>, current: number): KeyRing {
  const key = keys.get(current);
  if (!key) throw new Error(`the current data key ${keyIdHex(current)} is not among the vault's data keys`);
  const copy = new Map(keys);
  return Object.freeze({ current: Object.freeze({ id: current, key }) as SealKey, byId: (id: number) => copy.get(id) });
}

/** Derives the vault's subkeys from its root secret, with the data keys unwrapped from the config. */
export function deriveKeys(root: Buffer, vaultId: string, blockData: KeyRing): VaultKeys {
  return Object.freeze({
    blockId: hkdf(root, vaultId, 'block-id'),
    blockData,
    naming: hkdf(root, vaultId, 'naming'),
    metadata: hkdf(root, vaultId, 'metadata'),
  });
}

/**
 * A purpose-bound key under the vault's metadata key (for example 'lock' to MAC lock objects). Stable across
 * every rotation, like the metadata key itself; two purposes never share a key.
 */
export function metadataSubkey(keys: VaultKeys, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', keys.metadata, Buffer.alloc(0), `tresor/v2/metadata/${purpose}`, KEY_BYTES));
}

/** Wraps a key under a key-encryption key (AES-256-GCM, random nonce); `aad` says what it is, so wraps cannot be swapped. */
export function wrapKey(kek: Buffer, key: Buffer, aad: string): string {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(key), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64');
}

/** Unwraps a key; undefined when the wrap does not authenticate under this KEK and aad. */
export function unwrapKey(kek: Buffer, wrapped: string, aad: string): Buffer | undefined {
  const raw = Buffer.from(wrapped, 'base64');
  if (raw.length !== 12 + KEY_BYTES + 16) return undefined;
  const d = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, 12));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(raw.subarray(12 + KEY_BYTES));
  try {
    return Buffer.concat([d.update(raw.subarray(12, 12 + KEY_BYTES)), d.final()]);
  } catch {
    return undefined;
  }
}

/** HMAC-SHA256 of bytes under a key, hex. */
export function mac(key: Buffer, data: string | Buffer): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/** Compares two hex MACs in constant time. */
export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** A new data key id: random, never the metadata key's id, not among `taken`. */
export function newKeyId(taken: Iterable<number>): number {
  const used = new Set(taken);
  for (;;) {
    const id = randomBytes(4).readUInt32BE(0);
    if (id !== METADATA_KEY_ID && !used.has(id)) return id;
  }
}
