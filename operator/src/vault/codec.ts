// How a block or manifest becomes a stored object: zstd (when it pays) then AES-256-GCM, verified before upload.
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/** Object layout: [version][codec][12-byte nonce][ciphertext][16-byte tag]; version+codec+context are AAD. */
const VERSION = 1;
const CODEC_RAW = 0;
const CODEC_ZSTD = 1;
const HEADER = 2;
const NONCE = 12;
const TAG = 16;
const SAMPLE = 64 * 1024;

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

/** Compresses when it saves at least 3%; a sample decides first so incompressible data costs one small try. */
function compress(data: Uint8Array, level: number): { codec: number; body: Uint8Array } {
  if (data.length > 4 * SAMPLE) {
    const probe = zstd(data.subarray(0, SAMPLE), level);
    if (probe.length > SAMPLE * 0.97) return { codec: CODEC_RAW, body: data };
  }
  const z = zstd(data, level);
  return z.length < data.length * 0.97 ? { codec: CODEC_ZSTD, body: z } : { codec: CODEC_RAW, body: data };
}

/** Compresses and encrypts plaintext, binding it to context (the block id or manifest name). */
export function seal(key: Buffer, plain: Uint8Array, context: Uint8Array, level = 1): Buffer {
  const { codec, body } = compress(plain, level);
  const out = Buffer.allocUnsafe(HEADER + NONCE + body.length + TAG);
  out[0] = VERSION;
  out[1] = codec;
  const nonce = randomBytes(NONCE);
  nonce.copy(out, HEADER);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.concat([out.subarray(0, HEADER), context]));
  let at = HEADER + NONCE;
  at += c.update(body).copy(out, at);
  at += c.final().copy(out, at);
  c.getAuthTag().copy(out, at);
  return out;
}

/** Decrypts and decompresses an object; throws CorruptObjectError on any tampering or a wrong key. */
export function open(key: Buffer, sealed: Uint8Array, context: Uint8Array, what: string): Buffer {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < HEADER + NONCE + TAG) throw new CorruptObjectError(what, `only ${buf.length} bytes`);
  if (buf[0] !== VERSION) throw new CorruptObjectError(what, `unknown format version ${buf[0]}`);
  const codec = buf[1];
  const d = createDecipheriv('aes-256-gcm', key, buf.subarray(HEADER, HEADER + NONCE));
  d.setAAD(Buffer.concat([buf.subarray(0, HEADER), context]));
  d.setAuthTag(buf.subarray(buf.length - TAG));
  let body: Buffer;
  try {
    body = Buffer.concat([d.update(buf.subarray(HEADER + NONCE, buf.length - TAG)), d.final()]);
  } catch {
    throw new CorruptObjectError(what, 'authentication failed');
  }
  if (codec === CODEC_RAW) return body;
  if (codec === CODEC_ZSTD) return zstdDecompressSync(body);
  throw new CorruptObjectError(what, `unknown codec ${codec}`);
}

/** Seals a block and proves the object decodes back to the same bytes before anyone uploads it. */
export function sealBlockVerified(dataKey: Buffer, plain: Uint8Array, id: Uint8Array): Buffer {
  const sealed = seal(dataKey, plain, id);
  const back = open(dataKey, sealed, id, 'freshly sealed block');
  if (!back.equals(plain)) throw new Error('compress+encrypt round trip changed a block: refusing to upload it');
  return sealed;
}

/** Opens a block object and checks that its bytes hash to its id, so a restore never writes wrong bytes. */
export function openBlockVerified(keys: { blockId: Buffer; blockData: Buffer }, sealed: Uint8Array, id: Uint8Array): Buffer {
  const hex = Buffer.from(id).toString('hex');
  const plain = open(keys.blockData, sealed, id, `block ${hex}`);
  if (!blockId(keys.blockId, plain).equals(id)) throw new CorruptObjectError(`block ${hex}`, 'content does not hash to its id');
  return plain;
}
