// Randomized interleavings (property style, seeded) of backups, forgets, GC passes, failing lock and GC
// object reads, stalls and clock skews, for tests: interleave.test.ts runs them over a MemoryStore and a
// real FsStore, test/integration/vault-interleave.test.ts over the S3 server. After every schedule the vault
// verifies with data and every published manifest restores byte for byte.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mock } from 'node:test';
import * as assert from 'uvu/assert';
import { forgetBackup } from '../vault/forget.ts';
import { FsStore } from '../vault/fs-store.ts';
import { gcVault } from '../vault/gc.ts';
import { MemoryStore, type ObjectStore, type StoredObject } from '../vault/store.ts';
import { verifyVault } from '../vault/verify.ts';
import { Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { ageFiles } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

/** Where a schedule runs: a MemoryStore, a FsStore in a directory, or a given store (S3) aged by a wrapper. */
export type WorldKind = 'memory' | 'fs' | { readonly s3: (name: string) => ObjectStore };

const BS = 4096;
const BLOCKS = 6;
const MIN = 60_000;
const HOUR = 60 * MIN;
const EXPECTED = /injected|aborting|not found in vault|another GC pass|lists no manifests but has blocks/;
/** A small seeded PRNG. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Wraps a store: fails reads and listings of locks, probes and condemned sets at a rate, and stalls one call. */
export class Chaos implements ObjectStore {
  readonly location: string;
  failRate = 0;
  pauseNext = false;
  private paused: Array<() => void> = [];
  private onStall: Array<() => void> = [];

  /** Resolves once a call is stalled. */
  stalled(): Promise<void> {
    return new Promise((r) => this.onStall.push(r));
  }
  readonly inner: ObjectStore;
  private readonly rnd: () => number;

  constructor(inner: ObjectStore, rnd: () => number) {
    this.inner = inner;
    this.rnd = rnd;
    this.location = inner.location;
  }

  /** Fails a lock/GC/probe call at the rate; stalls the next block HEAD or PUT (only a backup makes those). */
  private async chaos(key: string, pausable = false): Promise<void> {
    if (/^(locks|gc|clock)\//.test(key) && this.rnd() < this.failRate) throw Object.assign(new Error(`injected 503 on ${key}`), { $metadata: { httpStatusCode: 503 } });
    if (pausable && this.pauseNext && key.startsWith('blocks/')) {
      this.pauseNext = false;
      const stalled = new Promise<void>((r) => this.paused.push(r));
      for (const f of this.onStall.splice(0)) f();
      await stalled;
    }
  }

  resumeAll(): void {
    for (const r of this.paused.splice(0)) r();
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await this.chaos(key, true);
    return this.inner.put(key, data);
  }

  async get(key: string, maxBytes?: number): Promise<Buffer> {
    await this.chaos(key);
    return this.inner.get(key, maxBytes);
  }

  async has(key: string): Promise<boolean> {
    const answer = await this.inner.has(key);
    await this.chaos(key, true); // answered, then stalled: the reuse decision is made
    return answer;
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    await this.chaos(prefix);
    yield* this.inner.list(prefix);
  }

  async delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    return this.inner.deleteMany(keys);
  }

  async sync(): Promise<void> {
    return this.inner.sync();
  }

  cleanTemp(before: Date): Promise<number> {
    return this.inner.cleanTemp ? this.inner.cleanTemp(before) : Promise.resolve(0);
  }
}

/** A vault whose store time and processes' monotonic clocks the schedule moves. */
export interface World {
  readonly store: Chaos;
  readonly vault: Vault;
  /** Store time and every process's monotonic clock move forward together. */
  advance(ms: number): Promise<void>;
  mono(): number;
}

/** Builds a world in dir. */
export async function world(kind: WorldKind, rnd: () => number, name: string, dir: string): Promise<World> {
  let vt = Date.parse('2026-06-01T00:00:00Z');
  if (typeof kind === 'object') {
    const aged = new Aged(kind.s3(name));
    const store = new Chaos(aged, rnd);
    return { store, vault: await Vault.init(store, randomBytes(32), BS), mono: () => vt, advance: async (ms) => {
      vt += ms;
      await aged.advance(ms);
    } };
  }
  if (kind === 'memory') {
    const mem = new MemoryStore();
    mem.clock = () => vt;
    const store = new Chaos(mem, rnd);
    return { store, vault: await Vault.init(store, randomBytes(32), BS), mono: () => vt, advance: async (ms) => void (vt += ms) };
  }
  const root = join(dir, name, 'vault');
  const store = new Chaos(new FsStore(root), rnd);
  // On a real filesystem the store's clock is the kernel's: time "passes" by moving every mtime back.
  return { store, vault: await Vault.init(store, randomBytes(32), BS), mono: () => vt, advance: async (ms) => {
    vt += ms;
    await ageFiles(root, ms);
  } };
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)] as T;
}

/** A pool of block contents shared by all disks, so that dedup against live and garbage blocks is common. */
export function pool(seed: number): Buffer[] {
  const r = mulberry32(seed ^ 0x5eed);
  return Array.from({ length: 10 }, (_, i) => (i === 0 ? Buffer.alloc(BS) : Buffer.from(Array.from({ length: BS }, () => Math.floor(r() * 256)))));
}

/** verify --read-data is clean and every published manifest restores byte for byte. */
async function assertWhole(w: World, published: readonly { diskId: string; backupId: string; expected: Buffer }[], out: string): Promise<void> {
  const v = await verifyVault(w.vault, { readData: true });
  assert.ok(v.ok, `vault damaged: ${JSON.stringify({ missing: v.missingBlocks.length, corrupt: v.corruptBlocks.length, damaged: v.damagedBackups, bad: v.badManifests })}`);
  for (const m of published) {
    const target = `${out}-${m.diskId}-${m.backupId}.out`;
    await restoreDisk({ vault: w.vault, diskId: m.diskId, backupId: m.backupId, target });
    assert.ok((await readFile(target)).equals(m.expected), `${m.diskId}/${m.backupId} does not restore byte for byte`);
  }
}

/** Runs one seeded schedule in dir and asserts the vault is whole; `log` receives what happened. */
export async function schedule(seed: number, kind: WorldKind, log: string[], dir: string): Promise<void> {
  const rnd = mulberry32(seed);
  const name = `${typeof kind === 'object' ? 's3' : kind}-${seed}`;
  const w = await world(kind, rnd, name, dir);
  const blocks = pool(seed);
  const disks = ['d0', 'd1', 'd2'];
  const content = new Map(disks.map((d) => [d, Buffer.concat(Array.from({ length: BLOCKS }, () => pick(rnd, blocks)))]));
  const running = new Map<string, Promise<void>>();
  const published: { diskId: string; backupId: string; expected: Buffer }[] = [];
  const unexpected: string[] = [];
  const allow = (what: string) => (err: unknown): void => {
    const msg = (err as Error).message;
    log.push(`${what} failed: ${msg.slice(0, 120)}`);
    if (!EXPECTED.test(msg)) unexpected.push(`${what}: ${msg}`);
  };
  const steps = 10 + Math.floor(rnd() * 20);
  const ops: Record<string, () => Promise<void>> = {
    backup: async () => {
      const d = pick(rnd, disks);
      if (running.has(d)) return;
      const c = content.get(d) as Buffer;
      for (let k = 0; k < 2; k++) pick(rnd, blocks).copy(c, Math.floor(rnd() * BLOCKS) * BS);
      const src = join(dir, `${name}-${d}.img`);
      await writeFile(src, c);
      const expected = Buffer.from(c);
      const parent = rnd() < 0.6 ? 'auto' : undefined;
      log.push(`backup ${d} parent=${parent ?? 'none'}`);
      const p = backupDisk({ vault: w.vault, source: src, diskId: d, parent, uploadConcurrency: 2, lock: { monotonic: w.mono } }).then(
        (r) => {
          log.push(`backup ${d} published ${r.backupId} (reused ${r.blocksReused}, check ${JSON.stringify(r.check)})`);
          published.push({ diskId: d, backupId: r.backupId, expected });
        },
        allow(`backup ${d}`),
      ).finally(() => running.delete(d));
      running.set(d, p);
    },
    gc: async () => {
      const graceMs = pick(rnd, [0, HOUR]);
      log.push(`gc grace=${graceMs}`);
      await gcVault(w.vault, { graceMs, marginMs: HOUR, lock: { monotonic: w.mono } }).then(
        (r) => void log.push(`gc: condemned ${r.blocksCondemned} deleted ${r.blocksDeleted} rescued ${r.blocksRescued}`),
        allow('gc'),
      );
    },
    forget: async () => {
      if (published.length === 0) return;
      const m = published[Math.floor(rnd() * published.length)]!;
      await forgetBackup(w.vault, m.diskId, m.backupId).then((r) => {
        log.push(`forget ${m.diskId}/${m.backupId}: ${r.outcome}`);
        if (r.outcome === 'forgotten') published.splice(published.indexOf(m), 1);
      }, allow('forget'));
    },
    tick: async () => {
      const ms = pick(rnd, [30_000, 2 * MIN, 11 * MIN, HOUR + MIN]);
      await w.advance(ms).then(() => log.push(`time +${ms / 1000} s`));
    },
    flaky: async () => void log.push(`lock/gc object reads fail at ${(w.store.failRate = pick(rnd, [0, 0, 0.1, 0.5]))}`),
    pause: async () => void log.push(`stall the next block call: ${(w.store.pauseNext = true)}`),
    resume: async () => void log.push(`resume stalled calls: ${w.store.resumeAll() ?? ''}`),
    skew: async () => {
      const skew = pick(rnd, [-11 * MIN, 0, 11 * MIN, 3 * HOUR]);
      mock.timers.setTime(Date.now() + skew);
      log.push(`process clocks jump ${skew / 1000} s`);
    },
    yield: async () => {
      for (let k = Math.floor(rnd() * 30); k > 0; k--) await new Promise((r) => setImmediate(r));
    },
  };
  for (let s = 0; s < steps; s++) {
    await (ops[pick(rnd, ['backup', 'backup', 'backup', 'gc', 'gc', 'forget', 'tick', 'flaky', 'pause', 'resume', 'skew', 'yield', 'yield'])] as () => Promise<void>)();
  }
  w.store.failRate = 0;
  w.store.pauseNext = false;
  w.store.resumeAll();
  await Promise.all(running.values());
  await assertWhole(w, published, join(dir, name));
  assert.equal(unexpected, [], 'only injected failures and lapsed leases may fail an operation');
}


/**
 * Ages a store whose clock we cannot set (S3 stamps LastModified itself, in whole seconds): each advance
 * waits for the next whole second T and from then on shows objects stamped before T as `ms` older.
 */
class Aged implements ObjectStore {
  readonly location: string;
  private readonly inner: ObjectStore;
  private readonly advances: { at: number; ms: number }[] = [];

  constructor(inner: ObjectStore) {
    this.inner = inner;
    this.location = inner.location;
  }

  /** Real wall time: Date may be mocked by a schedule's clock skews. */
  private static realNow(): number {
    return performance.timeOrigin + performance.now();
  }

  async advance(ms: number): Promise<void> {
    const at = Math.ceil(Aged.realNow() / 1000) * 1000;
    await new Promise((r) => setTimeout(r, at - Aged.realNow() + 5));
    this.advances.push({ at, ms });
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.inner.put(key, data);
  }

  get(key: string, maxBytes?: number): Promise<Buffer> {
    return this.inner.get(key, maxBytes);
  }

  has(key: string): Promise<boolean> {
    return this.inner.has(key);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    for await (const o of this.inner.list(prefix)) {
      const t = o.modified.getTime();
      const shift = this.advances.reduce((n, a) => (t < a.at ? n + a.ms : n), 0);
      yield { ...o, modified: new Date(t - shift) };
    }
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    return this.inner.deleteMany(keys);
  }

  sync(): Promise<void> {
    return this.inner.sync();
  }
}
