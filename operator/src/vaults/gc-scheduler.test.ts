import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupVaultObject } from '../api/types.ts';
import type { GcReport } from '../vault/gc.ts';
import { VaultGcScheduler } from './gc-scheduler.ts';

const vault = { metadata: { name: 'v', namespace: 'ns' }, spec: {} } as unknown as BackupVaultObject;
const report = (deferred: boolean): GcReport => ({ deferred, reason: deferred ? 'another GC pass is running' : 'done', manifests: 1, blocksReferenced: 1, blocksSeen: 3, blocksDeleted: deferred ? 0 : 2, bytesDeleted: deferred ? 0 : 100, keptForGrace: 0, blocksCondemned: 0, blocksRescued: 0, shards: 1, tempFilesRemoved: 0 });

/** Awaits p with the event loop held open: the scheduler's timers are unref'd by design. */
async function alive<T>(p: Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1_000);
  try {
    return await p;
  } finally {
    clearInterval(keep);
  }
}

function harness(results: Array<GcReport | Error>, exists = true): { s: VaultGcScheduler; calls: string[]; events: string[]; ended: Promise<void> } {
  const calls: string[] = [];
  const events: string[] = [];
  let end: () => void = () => {};
  const ended = new Promise<void>((r) => (end = r));
  const s = new VaultGcScheduler({
    vault: () => (exists ? vault : undefined),
    gc: async (v) => {
      calls.push(v.metadata.name!);
      const r = results[calls.length - 1] ?? report(false);
      if (calls.length >= results.length) setImmediate(end);
      if (r instanceof Error) throw r;
      return r;
    },
    events: { normal: async (_o, r, m) => void events.push(`Normal ${r} ${m}`), warning: async (_o, r, m) => void events.push(`Warning ${r} ${m}`) },
    delayMs: 1,
  });
  return { s, calls, events, ended };
}

test('a deferred GC (another pass running) is retried, and the pass that runs reports what it deleted', async () => {
  const h = harness([report(true), report(false)]);
  h.s.request(vault);
  await alive(h.ended);
  assert.equal(h.calls, ['v', 'v']);
  assert.equal(h.events, ['Normal VaultGarbageCollected GC deleted 2 of 3 blocks (100 bytes) no recovery point references; 0 newly condemned, 0 kept for the grace period']);
});

test('a failing GC is a Warning on the vault and is retried', async () => {
  const h = harness([new Error('cannot reach vault'), report(false)]);
  h.s.request(vault);
  await alive(h.ended);
  assert.is(h.calls.length, 2);
  assert.match(h.events[0]!, /^Warning VaultGarbageCollected GC failed: cannot reach vault/);
});

test('a pass that condemned blocks is followed by another one after the margin, which deletes them', async () => {
  const condemning = { ...report(false), blocksDeleted: 0, bytesDeleted: 0, blocksCondemned: 5 };
  const calls: number[] = [];
  const started = Date.now();
  let end: () => void = () => {};
  const ended = new Promise<void>((r) => (end = r));
  const s = new VaultGcScheduler({
    vault: () => vault,
    gc: async () => {
      calls.push(Date.now() - started);
      if (calls.length === 2) setImmediate(end);
      return calls.length === 1 ? condemning : report(false);
    },
    events: { normal: async () => undefined, warning: async () => undefined },
    delayMs: 1,
    followUpMs: 200,
  });
  s.request(vault);
  await alive(ended);
  assert.is(calls.length, 2);
  assert.ok((calls[1] as number) - (calls[0] as number) >= 190, `the follow-up ran ${(calls[1] as number) - (calls[0] as number)} ms after, not after the margin`);
});

test('after stop, requests run nothing', async () => {
  const h = harness([report(false)]);
  const ac = new AbortController();
  const running = h.s.run(ac.signal);
  ac.abort();
  await running;
  h.s.request(vault);
  await alive(new Promise((r) => setTimeout(r, 20)));
  assert.equal(h.calls, []);
});

test.run();
