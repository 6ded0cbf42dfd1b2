// Randomized interleavings (property style, seeded) over a MemoryStore and a real FsStore; see interleave.ts.
// A failure prints the seed and the schedule; rerun one with TRESOR_INTERLEAVE_SEED=<seed>.
// TRESOR_INTERLEAVE_SCHEDULES sets how many (that many over memory, a sixth of it over a filesystem).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mock } from 'node:test';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { forgetBackup } from '../vault/forget.ts';
import { gcVault } from '../vault/gc.ts';
import { verifyVault } from '../vault/verify.ts';
import { backupDisk } from './backup.ts';
import { tempDir } from './fixtures.ts';
import { mulberry32, pool, schedule, world, type WorldKind } from './interleave.ts';

const test = suite('vault: randomized interleavings');
const MIN = 60_000;
const HOUR = 60 * MIN;
const SCHEDULES = Number(process.env.TRESOR_INTERLEAVE_SCHEDULES ?? 40);
const ONLY_SEED = process.env.TRESOR_INTERLEAVE_SEED;
let dir = '';
let cleanup: () => Promise<void> = async () => {};

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
});
test.after(async () => cleanup());

async function run(kind: WorldKind, count: number): Promise<void> {
  const base = ONLY_SEED !== undefined ? Number(ONLY_SEED) : Math.floor(Math.random() * 2 ** 31);
  const n = ONLY_SEED !== undefined ? 1 : count;
  for (let i = 0; i < n; i++) {
    const seed = (base + i) >>> 0;
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const log: string[] = [];
    try {
      await schedule(seed, kind, log, dir);
    } catch (err) {
      console.error(`\ninterleaving failed on ${typeof kind === 'object' ? 's3' : kind} store: rerun with TRESOR_INTERLEAVE_SEED=${seed}\nschedule:\n  ${log.join('\n  ')}`);
      throw err;
    } finally {
      mock.timers.reset();
    }
  }
}

test(`${SCHEDULES} random schedules over a MemoryStore`, async () => {
  await run('memory', SCHEDULES);
});

test(`${Math.ceil(SCHEDULES / 6)} random schedules over a real FsStore`, async () => {
  await run('fs', Math.ceil(SCHEDULES / 6));
});

test('named schedule R1c: lock reads failing while a reusing backup stalls across two GC passes', async () => {
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  try {
    for (const kind of ['memory', 'fs'] as const) {
      const rnd = mulberry32(1);
      const w = await world(kind, rnd, `r1c-${kind}`, dir);
      const data = Buffer.concat(pool(7).slice(1, 4));
      const x = join(dir, `r1c-${kind}-x.img`);
      await writeFile(x, data);
      const rx = await backupDisk({ vault: w.vault, source: x, diskId: 'x' });
      await backupDisk({ vault: w.vault, source: x, diskId: 'keep' });
      await forgetBackup(w.vault, 'keep', (await w.vault.listBackups('keep'))[0]!);
      await forgetBackup(w.vault, 'x', rx.backupId);
      await w.advance(2 * HOUR);
      w.store.pauseNext = true;
      const stalled = w.store.stalled();
      const y = backupDisk({ vault: w.vault, source: x, diskId: 'y', lock: { monotonic: w.mono } });
      await stalled;
      w.store.failRate = 1;
      await gcVault(w.vault, { graceMs: HOUR, marginMs: HOUR, allowEmpty: true }).catch(() => undefined);
      w.store.failRate = 0;
      await gcVault(w.vault, { graceMs: HOUR, marginMs: HOUR, allowEmpty: true });
      await w.advance(HOUR + MIN);
      await gcVault(w.vault, { graceMs: HOUR, marginMs: HOUR, allowEmpty: true });
      w.store.resumeAll();
      const r = await y.catch((err: Error) => err);
      if (r instanceof Error) assert.match(r.message, /aborting/);
      const v = await verifyVault(w.vault, { readData: true });
      assert.ok(v.ok, JSON.stringify(v.damagedBackups));
    }
  } finally {
    mock.timers.reset();
  }
});

test.run();
