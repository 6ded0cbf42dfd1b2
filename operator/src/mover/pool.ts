// A small pool of worker threads doing the CPU-bound part of the data path (hash, compress, encrypt).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Keys a worker needs (copied into each worker once). */
export interface WorkerKeys {
  readonly blockId: Uint8Array;
  readonly blockData: Uint8Array;
}

/** What a caller asks a worker to do; buffers are transferred, not copied. */
export type WorkInput =
  | { op: 'hash'; buf: ArrayBuffer; len: number; parent?: ArrayBuffer; seal: boolean }
  | { op: 'open'; sealed: ArrayBuffer; id: ArrayBuffer };

/** A request as posted to a worker. */
export type WorkRequest = WorkInput & { seq: number };

/** A worker's answer; `buf` comes back to the sender's buffer pool. */
export type WorkResult =
  | { op: 'hash'; seq: number; buf: ArrayBuffer; zero: boolean; id?: ArrayBuffer; sealed?: ArrayBuffer }
  | { op: 'open'; seq: number; plain: ArrayBuffer }
  | { op: 'error'; seq: number; message: string };

type Pending = { resolve: (r: WorkResult) => void; reject: (e: Error) => void; worker: number };

/** Default worker count: one per core, at most 4 (the measured pipeline scales to 2 here). */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** Dispatches requests to the least busy worker and matches answers by sequence number. */
export class WorkerPool {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  constructor(keys: WorkerKeys, count = defaultWorkers()) {
    this.workers = [];
    this.load = [];
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL('./worker.ts', import.meta.url), { workerData: keys });
      w.on('message', (r: WorkResult) => this.settle(r));
      w.on('error', (e) => this.failAll(e));
      this.workers.push(w);
      this.load.push(0);
    }
  }

  private settle(r: WorkResult): void {
    const p = this.pending.get(r.seq);
    if (!p) return;
    this.pending.delete(r.seq);
    this.load[p.worker] = (this.load[p.worker] ?? 1) - 1;
    if (r.op === 'error') p.reject(new Error(r.message));
    else p.resolve(r);
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Sends one request (its buffers are transferred) and resolves with the answer. */
  run(req: WorkInput, transfer: ArrayBuffer[]): Promise<WorkResult> {
    const seq = ++this.seq;
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if ((this.load[i] ?? 0) < (this.load[best] ?? 0)) best = i;
    this.load[best] = (this.load[best] ?? 0) + 1;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, worker: best });
      this.workers[best]?.postMessage({ ...req, seq }, transfer);
    });
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
