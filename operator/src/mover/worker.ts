// Worker thread: zero check, keyed hash, and seal+verify (backup) or open+verify (restore) of one block.
import { parentPort, workerData } from 'node:worker_threads';
import { blockId, openBlockVerified, sealBlockVerified } from '../vault/codec.ts';
import type { WorkerKeys, WorkRequest, WorkResult } from './pool.ts';

const keys = workerData as WorkerKeys;
const idKey = Buffer.from(keys.blockId);
const dataKey = Buffer.from(keys.blockData);

function isZero(b: Buffer): boolean {
  // Cheap early exit on the first bytes, then a word-wise scan via compare against a zero page.
  if (b.length === 0 || b[0] !== 0 || b[b.length - 1] !== 0) return b.length === 0;
  for (let at = 0; at < b.length; at += ZERO.length) {
    const end = Math.min(at + ZERO.length, b.length);
    if (b.compare(ZERO, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}
const ZERO = Buffer.alloc(64 * 1024);

function handle(req: WorkRequest): { res: WorkResult; transfer: ArrayBuffer[] } {
  if (req.op === 'hash') {
    const data = Buffer.from(req.buf, 0, req.len);
    if (isZero(data)) return { res: { op: 'hash', seq: req.seq, buf: req.buf, zero: true }, transfer: [req.buf] };
    const id = blockId(idKey, data);
    const same = req.parent !== undefined && Buffer.from(req.parent).equals(id);
    const sealed = req.seal && !same ? sealBlockVerified(dataKey, data, id) : undefined;
    const idBuf = new Uint8Array(id).buffer;
    const sealedBuf = sealed ? new Uint8Array(sealed).buffer : undefined;
    return {
      res: { op: 'hash', seq: req.seq, buf: req.buf, zero: false, id: idBuf, ...(sealedBuf ? { sealed: sealedBuf } : {}) },
      transfer: [req.buf, idBuf, ...(sealedBuf ? [sealedBuf] : [])],
    };
  }
  const plain = openBlockVerified({ blockId: idKey, blockData: dataKey }, new Uint8Array(req.sealed), new Uint8Array(req.id));
  const out = new Uint8Array(plain).buffer;
  return { res: { op: 'open', seq: req.seq, plain: out }, transfer: [out] };
}

parentPort?.on('message', (req: WorkRequest) => {
  try {
    const { res, transfer } = handle(req);
    parentPort?.postMessage(res, transfer);
  } catch (err) {
    parentPort?.postMessage({ op: 'error', seq: req.seq, message: (err as Error).message } satisfies WorkResult);
  }
});
