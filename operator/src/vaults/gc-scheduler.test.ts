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

test('a deferred GC (backup in flight) is retried, and the pass that runs reports what it deleted', async () => {
  const h = harness([report(true), report(false)]);
  h.s.request(vault);
  await alive(h.ended);
  assert.equal(h.calls, ['v', 'v']);
  assert.equal(h.events, ['Normal VaultGarbageCollected GC deleted 2 of 3 blocks (100 bytes) no recovery point references; 0 kept for the grace period']);
});

test('a failing GC is a Warning on the vault and is retried', async () => {
  const h = harness([new Error('cannot reach vault'), report(false)]);
  h.s.request(vault);
  await alive(h.ended);
  assert.is(h.calls.length, 2);
  assert.match(h.events[0]!, /^Warning VaultGarbageCollected GC failed: cannot reach vault/);
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
