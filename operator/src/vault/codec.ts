// How a block or manifest becomes a stored object: zstd (when it pays) then AES-256-GCM, verified before upload.
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, zstdCompress, zstdCompressSync, zstdDecompress, zstdDecompressSync } from 'node:zlib';

/**
 * Object layout (vault format 2, ADR 0017): [version][codec][key id, u32 BE][24-byte nonce][ciphertext][16-byte tag].
 * The first 12 nonce bytes pick a one-object AES-256 key, HMAC-SHA256(data key, salt); the last 12 are the GCM
 * nonce. So no AES key ever sees more than a handful of random nonces, far inside NIST SP 800-38D's 2^32
 * bound, however many objects one data key seals. Version, codec, key id and the caller's context are AAD.
 */
const VERSION = 2;
const CODEC_RAW = 0;
const CODEC_ZSTD = 1;
const HEADER = 6;
const SALT = 12;
const NONCE = 12;
const TAG = 16;
const SAMPLE = 64 * 1024;
const CHUNK = 1024 * 1024;
const ZSTD1 = { params: { [constants.ZSTD_c_compressionLevel]: 1 } };
const OBJECT_KEY_INFO = Buffer.from('tresor/v2/object-key');

/** Bytes a sealed object adds to its (compressed) body. */
export const SEAL_OVERHEAD = HEADER + SALT + NONCE + TAG;

/** Key id of the vault's metadata key (never a data key's id). */
export const METADATA_KEY_ID = 0;

/** A key that seals objects, with the id written into every object it seals. */
export interface SealKey {
  readonly id: number;
  readonly key: Buffer;
}

/** The data keys a vault can open objects with, and the one new objects are sealed with. */
export interface KeyRing {
  readonly current: SealKey;
  /** The key with this id, or undefined when the vault's config holds no such key. */
  byId(id: number): Buffer | undefined;
}

/** A key id as printed and stored in the config: 8 hex digits. */
export function keyIdHex(id: number): string {
  return id.toString(16).padStart(8, '0');
}

function sealKeyOf(key: Buffer | SealKey | KeyRing): SealKey {
  if (Buffer.isBuffer(key)) return { id: METADATA_KEY_ID, key };
  return 'current' in key ? key.current : key;
}

function openKeyOf(key: Buffer | KeyRing, id: number, what: string): Buffer {
  if (Buffer.isBuffer(key)) {
    if (id !== METADATA_KEY_ID) throw new CorruptObjectError(what, `sealed with data key ${keyIdHex(id)} where the metadata key was expected`);
    return key;
  }
  const k = key.byId(id);
  if (!k) throw new CorruptObjectError(what, `sealed with key ${keyIdHex(id)}, which the vault config does not hold (written by another vault, or its key was removed)`);
  return k;
}

function objectKey(key: Buffer, salt: Uint8Array): Buffer {
  return createHmac('sha256', key).update(OBJECT_KEY_INFO).update(salt).digest();
}

/** Largest plaintext a block or manifest may decompress to (64 MiB blocks; maps of 16 TiB disks at 1 MiB): no zstd bomb. */
export const MAX_PLAIN_BYTES = 512 * 1024 * 1024;

/** Length of a block id (keyed BLAKE3 output). */
export const ID_BYTES = 32;

/** Thrown when a stored object fails authentication or does not hash to its name. */
export class CorruptObjectError extends Error {
  constructor(what: string, why: string) {
    super(`${what} is corrupt or was written with another key: ${why}`);
    this.name = 'CorruptObjectError';
  }
}

/** Computes a block's id: keyed BLAKE3 of its bytes under the vault's block-id key. */
export function blockId(idKey: Buffer, data: Uint8Array): Buffer {
  const view = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Blake3Hasher.newKeyed(idKey).update(view).digestBuffer();
}

function zstd(data: Uint8Array, level: number): Buffer {
  return zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: level } });
}

const zstdAsync = promisify(zstdCompress);
const unzstdAsync = promisify(zstdDecompress);

/** True when a 64 KiB sample says the data will not compress (random or already-compressed blocks). */
function incompressible(data: Uint8Array, level: number): boolean {
  if (data.length <= 4 * SAMPLE) return false;
  return zstd(data.subarray(0, SAMPLE), level).length > SAMPLE * 0.97;
}

/** Keeps compressed output only when it saves at least 3%. */
function pick(data: Uint8Array, z: Buffer): { codec: number; body: Uint8Array } {
  return z.length < data.length * 0.97 ? { codec: CODEC_ZSTD, body: z } : { codec: CODEC_RAW, body: data };
}

/** Compresses when it pays; a sample decides first so incompressible data costs one small try. */
function compress(data: Uint8Array, level: number): { codec: number; body: Uint8Array } {
  return incompressible(data, level) ? { codec: CODEC_RAW, body: data } : pick(data, zstd(data, level));
}

/**
 * Compresses and encrypts plaintext, binding it to context (the block id or manifest name). A bare Buffer is
 * the metadata key (key id 0); a key ring seals with its current data key.
 */
export function seal(key: Buffer | SealKey | KeyRing, plain: Uint8Array, context: Uint8Array, level = 1): Buffer {
  return encrypt(sealKeyOf(key), compress(plain, level), context);
}

function encrypt(key: SealKey, { codec, body }: { codec: number; body: Uint8Array }, context: Uint8Array): Buffer {
  // allocUnsafeSlow: never a slice of the shared pool, so a large object is freed as soon as it is dropped.
  const out = Buffer.allocUnsafeSlow(SEAL_OVERHEAD + body.length);
  out[0] = VERSION;
  out[1] = codec;
  out.writeUInt32BE(key.id, 2);
  const salt = randomBytes(SALT + NONCE);
  salt.copy(out, HEADER);
  const c = createCipheriv('aes-256-gcm', objectKey(key.key, salt.subarray(0, SALT)), salt.subarray(SALT));
  c.setAAD(Buffer.concat([out.subarray(0, HEADER), context]));
  let at = HEADER + SALT + NONCE;
  // In 1 MiB steps: one update over a large manifest would allocate a second copy of it.
  for (let i = 0; i < body.length; i += CHUNK) at += c.update(body.subarray(i, i + CHUNK)).copy(out, at);
  at += c.final().copy(out, at);
  c.getAuthTag().copy(out, at);
  return out;
}

/** The key id an object was sealed with (it is authenticated only once the object is opened). */
export function sealedKeyId(sealed: Uint8Array): number | undefined {
  return sealed.length >= HEADER && sealed[0] === VERSION ? Buffer.from(sealed.buffer, sealed.byteOffset, HEADER).readUInt32BE(2) : undefined;
}

/** Decrypts an object into its codec and body; throws CorruptObjectError on any tampering or a wrong key. */
function decrypt(key: Buffer | KeyRing, sealed: Uint8Array, context: Uint8Array, what: string): { codec: number; body: Buffer } {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < SEAL_OVERHEAD) throw new CorruptObjectError(what, `only ${buf.length} bytes`);
  if (buf[0] !== VERSION) throw new CorruptObjectError(what, `unknown object format version ${buf[0]} (this Tresor reads version ${VERSION})`);
  const codec = buf[1];
  const salt = buf.subarray(HEADER, HEADER + SALT);
  const d = createDecipheriv('aes-256-gcm', objectKey(openKeyOf(key, buf.readUInt32BE(2), what), salt), buf.subarray(HEADER + SALT, HEADER + SALT + NONCE));
  d.setAAD(Buffer.concat([buf.subarray(0, HEADER), context]));
  d.setAuthTag(buf.subarray(buf.length - TAG));
  let body: Buffer;
  try {
    const part = d.update(buf.subarray(HEADER + SALT + NONCE, buf.length - TAG));
    const fin = d.final();
    body = fin.length > 0 ? Buffer.concat([part, fin]) : part;
  } catch {
    throw new CorruptObjectError(what, 'authentication failed');
  }
  if (codec !== CODEC_RAW && codec !== CODEC_ZSTD) throw new CorruptObjectError(what, `unknown codec ${codec}`);
  return { codec, body };
}

/** Decrypts and decompresses an object; throws CorruptObjectError on any tampering or a wrong key. */
export function open(key: Buffer | KeyRing, sealed: Uint8Array, context: Uint8Array, what: string): Buffer {
  const { codec, body } = decrypt(key, sealed, context, what);
  return codec === CODEC_ZSTD ? zstdDecompressSync(body, { maxOutputLength: MAX_PLAIN_BYTES }) : body;
}

// The block path below runs on the main thread; zstd, the one slow step on compressible data, goes to the
// libuv threadpool so the second core works while the main thread hashes and encrypts (ADR 0012).

/** Seals a block (async zstd) and proves the object decodes back to the same bytes before anyone uploads it. */
export async function sealBlock(dataKeys: KeyRing, plain: Uint8Array, id: Uint8Array): Promise<Buffer> {
  const packed = incompressible(plain, 1) ? { codec: CODEC_RAW, body: plain } : pick(plain, await zstdAsync(plain, ZSTD1));
  const sealed = encrypt(dataKeys.current, packed, id);
  const back = decrypt(dataKeys, sealed, id, 'freshly sealed block');
  const same = back.codec === CODEC_ZSTD ? (await unzstdAsync(back.body)).equals(plain) : back.body.equals(plain);
  if (!same) throw new Error('compress+encrypt round trip changed a block: refusing to upload it');
  return sealed;
}

/** Opens a block object (async zstd) and checks that its bytes hash to its id, so a restore never writes wrong bytes. */
export async function openBlock(keys: { blockId: Buffer; blockData: KeyRing }, sealed: Uint8Array, id: Uint8Array): Promise<Buffer> {
  const hex = Buffer.from(id).toString('hex');
  const { codec, body } = decrypt(keys.blockData, sealed, id, `block ${hex}`);
  const plain = codec === CODEC_ZSTD ? await unzstdAsync(body, { maxOutputLength: MAX_PLAIN_BYTES }) : body;
  if (!blockId(keys.blockId, plain).equals(id)) throw new CorruptObjectError(`block ${hex}`, 'content does not hash to its id');
  return plain;
}
