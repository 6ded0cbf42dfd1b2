import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFreezeWindow, type FreezeWindowInput, type GuestFreezer } from './freeze-window.ts';

/** A guest that records the order of calls; options make it fail the way real agents do. */
function fakeGuest(log: string[], opts: { freezeFails?: string; freezeHangs?: boolean; thawFailsTimes?: number } = {}): GuestFreezer {
  let thawFailures = opts.thawFailsTimes ?? 0;
  return {
    async freeze(timeout) {
      log.push(`freeze(${timeout})`);
      if (opts.freezeFails) throw new Error(opts.freezeFails);
      if (opts.freezeHangs) await new Promise(() => {});
    },
    async unfreeze() {
      log.push('unfreeze');
      if (thawFailures-- > 0) throw new Error('agent busy');
    },
  };
}

function base(log: string[], over: Partial<FreezeWindowInput> = {}): FreezeWindowInput {
  return {
    disks: ['root', 'data'],
    freeze: true,
    runHooks: false,
    freezeTimeoutMs: 5_000,
    guest: fakeGuest(log),
    cutter: { cut: async (disk) => { log.push(`cut ${disk}`); return { snapshotName: `job-${disk}` }; } },
    hooks: { run: async (phase) => { log.push(`hook ${phase}`); } },
    ...over,
  };
}

test('hooks, freeze, cut every disk, thaw, post-hook: in that order', async () => {
  const log: string[] = [];
  const r = await runFreezeWindow(base(log, { runHooks: true }));
  assert.equal(log, ['hook pre', 'freeze(5000)', 'cut root', 'cut data', 'unfreeze', 'hook post']);
  assert.equal([r.freeze, r.hooks], ['ok', 'ok']);
  assert.equal(r.snapshots, [{ disk: 'root', snapshotName: 'job-root' }, { disk: 'data', snapshotName: 'job-data' }]);
});

test('the guest is thawed even when cutting a snapshot fails', async () => {
  const log: string[] = [];
  const input = base(log, { cutter: { cut: async (disk) => { if (disk === 'data') throw new Error('CSI said no'); return { snapshotName: disk }; } } });
  const err = await runFreezeWindow(input).then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? 'resolved', /CSI said no/);
  assert.ok(log.includes('unfreeze'), `thaw must run: ${log.join(', ')}`);
});

test('a failing freeze is reported with the agent\'s words, snapshots are still cut, no thaw needed', async () => {
  const log: string[] = [];
  const r = await runFreezeWindow(base(log, { guest: fakeGuest(log, { freezeFails: 'fsfreeze: Device or resource busy' }) }));
  assert.is(r.freeze, 'failed');
  assert.match(r.detail ?? '', /Device or resource busy/);
  assert.is(r.snapshots.length, 2);
  assert.is(r.frozenMs, 0);
});

test('a freeze that never answers times out instead of hanging the job', async () => {
  const log: string[] = [];
  const r = await runFreezeWindow(base(log, { freezeTimeoutMs: 50, guest: fakeGuest(log, { freezeHangs: true }) }));
  assert.is(r.freeze, 'timedOut');
  assert.ok(log.includes('unfreeze'), 'a freeze that may have happened is thawed');
});

test('a window longer than the freeze timeout is not consistent: reported as timed out', async () => {
  const log: string[] = [];
  let t = 0;
  const clock = { now: () => t };
  const slowCut = { cut: async (disk: string) => { t += 4_000; return { snapshotName: disk }; } };
  const r = await runFreezeWindow(base(log, { clock, cutter: slowCut }));
  assert.is(r.freeze, 'timedOut');
  assert.match(r.detail ?? '', /past the 5000 ms freeze timeout/);
});

test('thaw is retried when the agent is busy; a thaw that keeps failing is reported', async () => {
  const log: string[] = [];
  const ok = await runFreezeWindow(base(log, { guest: fakeGuest(log, { thawFailsTimes: 2 }) }));
  assert.is(ok.thawError, undefined);
  assert.is(log.filter((l) => l === 'unfreeze').length, 3);
  const bad = await runFreezeWindow(base([], { guest: fakeGuest([], { thawFailsTimes: 5 }) }));
  assert.match(bad.thawError ?? '', /agent busy/);
});

test('a failing pre-hook still freezes and cuts; the post-hook still runs', async () => {
  const log: string[] = [];
  const hooks = { run: async (phase: 'pre' | 'post') => { log.push(`hook ${phase}`); if (phase === 'pre') throw new Error('db flush failed'); } };
  const r = await runFreezeWindow(base(log, { runHooks: true, hooks }));
  assert.equal([r.freeze, r.hooks], ['ok', 'failed']);
  assert.match(r.detail ?? '', /pre-hook: db flush failed/);
  assert.equal(log.at(-1), 'hook post');
});

test('no freeze planned (stopped VM or no agent): cuts only, never calls the agent', async () => {
  const log: string[] = [];
  const r = await runFreezeWindow(base(log, { freeze: false }));
  assert.equal(log, ['cut root', 'cut data']);
  assert.is(r.freeze, 'skipped');
});

test.run();
