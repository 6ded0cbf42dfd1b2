// The review's reproductions R1, R1b, R1c (security-2026-12.md, H1) and R3 (M3) as tests: GC racing a backup that
// reuses blocks must never leave a published manifest with a missing block. Each failed on the old code.
import { randomBytes } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mock } from 'node:test';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { forgetBackup } from '../vault/forget.ts';
import { gcVault } from '../vault/gc.ts';
import { acquireLock, liveLocks } from '../vault/locks.ts';
import { FsStore } from '../vault/fs-store.ts';
import { MemoryStore } from '../vault/store.ts';
import { verifyVault } from '../vault/verify.ts';
import { blockKey, Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { ageObjects, sameBytes, tempDir, writeImage } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

const test = suite('vault: gc and backup races (R1, R1b, R1c, R3)');
const MiB = 1 << 20;
const HOUR = 3_600_000;
let dir = '';
let cleanup: () => Promise<void> = async () => {};

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
});
test.after(async () => cleanup());

/** A MemoryStore that can stall the first block HEAD after it answered, and fail reads of lock objects. */
class RacyStore extends MemoryStore {
  pause = false;
  failLockReads = false;
  private reachedFn: () => void = () => undefined;
  private releaseFn: () => void = () => undefined;
  readonly reached = new Promise<void>((r) => (this.reachedFn = r));
  private readonly released = new Promise<void>((r) => (this.releaseFn = r));

  release(): void {
    this.releaseFn();
  }

  override async has(key: string): Promise<boolean> {
    const answer = await super.has(key);
    if (this.pause && key.startsWith('blocks/')) {
      this.pause = false;
      this.reachedFn();
      await this.released;
    }
    return answer;
  }

  override async get(key: string, maxBytes?: number): Promise<Buffer> {
    if (this.failLockReads && key.startsWith('locks/')) throw Object.assign(new Error('SlowDown'), { $metadata: { httpStatusCode: 503 } });
    return super.get(key, maxBytes);
  }
}

/** Disk x, forgotten; disk y with the same bytes (dedup hits on x's blocks); z keeps the listing non-empty. */
async function setup(store: RacyStore, name: string): Promise<{ vault: Vault; y: string }> {
  const vault = await Vault.init(store, randomBytes(32));
  const x = join(dir, `${name}-x.img`);
  const y = join(dir, `${name}-y.img`);
  const z = join(dir, `${name}-z.img`);
  await writeImage(x, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'random' }]);
  await copyFile(x, y);
  await writeImage(z, MiB, [{ offset: 0, length: MiB, fill: 'random' }]);
  await backupDisk({ vault, source: z, diskId: 'z' });
  const rx = await backupDisk({ vault, source: x, diskId: 'x' });
  assert.is((await forgetBackup(vault, 'x', rx.backupId)).outcome, 'forgotten');
  return { vault, y };
}

/** Every published manifest verifies with data and y's newest point restores byte for byte. */
async function assertWhole(vault: Vault, y: string, name: string): Promise<void> {
  const v = await verifyVault(vault, { readData: true });
  assert.ok(v.ok, `vault damaged: ${JSON.stringify({ missing: v.missingBlocks.length, damaged: v.damagedBackups })}`);
  if ((await vault.listBackups('y')).length === 0) await backupDisk({ vault, source: y, diskId: 'y' });
  const out = join(dir, `${name}-y.out`);
  await restoreDisk({ vault, diskId: 'y', backupId: 'latest', target: out });
  assert.ok(await sameBytes(y, out));
}

test('R1c: a failed read of a live backup lock does not let GC delete the blocks that backup reuses', async () => {
  const store = new RacyStore();
  const { vault, y } = await setup(store, 'r1c');
  ageObjects(store.objects, 2 * HOUR); // x's blocks: unreferenced and older than the grace period
  store.pause = true;
  const running = backupDisk({ vault, source: y, diskId: 'y' });
  await store.reached; // y's dedup HEAD answered "stored"; its lock is fresh
  store.failLockReads = true;
  await gcVault(vault, { graceMs: HOUR });
  ageObjects(store.objects, HOUR + 1000);
  await gcVault(vault, { graceMs: HOUR });
  store.failLockReads = false;
  store.release();
  await running;
  await assertWhole(vault, y, 'r1c');
});

test('R1: a backup stalled past the stale time while GC runs never publishes a manifest with missing blocks', async () => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.now() });
  try {
    const store = new RacyStore();
    const { vault, y } = await setup(store, 'r1');
    mock.timers.setTime(Date.now() + 2 * HOUR);
    store.pause = true;
    const running = backupDisk({ vault, source: y, diskId: 'y', lock: { monotonic: () => Date.now() } }).then(
      (r) => r,
      (err: unknown) => err as Error,
    );
    await store.reached;
    mock.timers.setTime(Date.now() + 11 * 60_000); // SIGSTOP, node freeze, CPU starvation: no refresh
    await gcVault(vault, { graceMs: HOUR });
    mock.timers.setTime(Date.now() + HOUR + 1000);
    await gcVault(vault, { graceMs: HOUR });
    mock.timers.tick(60_000); // the process resumes: the overdue refresh timer fires first
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    store.release();
    const r = await running;
    if (r instanceof Error) assert.match(r.message, /lock .* (was not refreshed|was removed)/);
    await assertWhole(vault, y, 'r1');
  } finally {
    mock.timers.reset();
  }
});

test('R1b: a lock written on a clock 11 min slow is live for GC and forget, and a reader 11 min fast agrees', async () => {
  const T = Date.now();
  const store = new MemoryStore();
  store.clock = () => T + performance.now();
  mock.timers.enable({ apis: ['Date'], now: T - 11 * 60_000 }); // the backup pod's clock
  try {
    const lock = await acquireLock(store, 'backup', 'ns.vmuid.disk0');
    mock.timers.setTime(T); // the operator's clock (GC, forget)
    assert.is((await liveLocks(store, 'backup')).length, 1);
    mock.timers.setTime(T + 11 * 60_000); // a reader whose clock runs ahead
    assert.is((await liveLocks(store, 'backup')).length, 1);
    await lock.release();
  } finally {
    mock.timers.reset();
  }
});

test('R3: after verify --repair quarantined a corrupt block, the next incremental re-uploads it and is whole', async () => {
  const vault = await Vault.init(new FsStore(join(dir, 'r3-vault')), randomBytes(32));
  const src = join(dir, 'r3.img');
  await writeImage(src, 2 * MiB, [{ offset: 0, length: 2 * MiB, fill: 'random' }]);
  const first = await backupDisk({ vault, source: src, diskId: 'd' });
  const m = await vault.getManifest('d', first.backupId);
  const key = blockKey(m.map.subarray(0, 32));
  const sealed = await vault.store.get(key);
  sealed[40] = (sealed[40] as number) ^ 0xff;
  await vault.store.put(key, sealed);
  const repaired = await verifyVault(vault, { readData: true, repair: true });
  assert.is(repaired.quarantined, 1);
  // A scheduled backup: --parent auto, the parent's map names the quarantined block.
  const inc = await backupDisk({ vault, source: src, diskId: 'd', parent: 'auto' });
  assert.is(inc.parentId, first.backupId);
  const v = await verifyVault(vault, { readData: true });
  assert.ok(v.ok, `damaged after the incremental: ${JSON.stringify(v.damagedBackups)}`);
  const out = join(dir, 'r3.out');
  await restoreDisk({ vault, diskId: 'd', backupId: inc.backupId, target: out });
  assert.ok(await sameBytes(src, out));
});

test.run();
