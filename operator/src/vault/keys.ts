// The vault key and the purpose-bound subkeys derived from it with HKDF-SHA256.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

/** Subkeys of one vault; each is used for exactly one purpose so that no output can be replayed as another. */
export interface VaultKeys {
  /** Keyed BLAKE3 key naming blocks: equal content has equal ids inside one vault only. */
  readonly blockId: Buffer;
  /** AES-256-GCM key for block objects. */
  readonly blockData: Buffer;
  /** AES-256-GCM key for manifests. */
  readonly manifest: Buffer;
  /** HMAC key proving a key file belongs to the vault, without revealing anything about the key. */
  readonly check: Buffer;
}

const KEY_BYTES = 32;

/** Creates a new random vault key file (hex, mode 0600); refuses to overwrite one. */
export async function createKeyFile(path: string): Promise<Buffer> {
  const key = randomBytes(KEY_BYTES);
  await writeFile(path, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

/** Reads a vault key file: 64 hex digits (whitespace ignored) or exactly 32 raw bytes. */
export async function readKeyFile(path: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (raw.length === KEY_BYTES) return raw;
  throw new Error(`key file ${path} must hold 64 hex digits (a 256-bit key); it holds ${raw.length} bytes`);
}

function derive(master: Buffer, vaultId: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.from(vaultId), `tresor/v1/${purpose}`, KEY_BYTES));
}

/** Derives the vault's subkeys; the vault id is the HKDF salt, so two vaults never share a subkey. */
export function deriveKeys(master: Buffer, vaultId: string): VaultKeys {
  return Object.freeze({
    blockId: derive(master, vaultId, 'block-id'),
    blockData: derive(master, vaultId, 'block-data'),
    manifest: derive(master, vaultId, 'manifest'),
    check: derive(master, vaultId, 'key-check'),
  });
}

/** The value stored in the vault config that lets `open` tell a wrong key from a damaged vault. */
export function keyCheck(keys: VaultKeys): string {
  return createHmac('sha256', keys.check).update('tresor key check').digest('hex');
}

/** True when keys were derived from the key the vault was created with. */
export function keyMatches(keys: VaultKeys, stored: string): boolean {
  const mine = Buffer.from(keyCheck(keys), 'hex');
  const theirs = Buffer.from(stored, 'hex');
  return mine.length === theirs.length && timingSafeEqual(mine, theirs);
}
