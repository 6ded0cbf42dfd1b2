import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Logger } from '../../runtime/log.ts';
import type { TransferProgress } from '../progress.ts';
import { ProgressRelay } from './transfer-progress.ts';

function rig(samples: Array<TransferProgress | undefined | Error>): { relay: ProgressRelay; clock: { t: number }; reads: number[]; writes: TransferProgress[]; warnings: string[]; failWrites: { on: boolean } } {
  const clock = { t: 1_000_000 };
  const reads: number[] = [];
  const writes: TransferProgress[] = [];
  const warnings: string[] = [];
  const failWrites = { on: false };
  const log: Logger = { debug() {}, info() {}, error() {}, warn: (m) => warnings.push(m) };
  const relay = new ProgressRelay({
    what: 'pod-1', intervalMs: 3000, now: () => clock.t, log,
    read: async () => {
      reads.push(clock.t);
      const s = samples.shift();
      if (s instanceof Error) throw s;
      return s;
    },
    write: async (p) => {
      if (failWrites.on) throw new Error('apiserver down');
      writes.push(p);
    },
  });
  return { relay, clock, reads, writes, warnings, failWrites };
}

test('reads at most once per interval however often the pod is looked at', async () => {
  const r = rig([{ bytesDone: 1, bytesTotal: 10 }, { bytesDone: 2, bytesTotal: 10 }, { bytesDone: 3, bytesTotal: 10 }]);
  for (let i = 0; i < 20; i++) {
    await r.relay.poll();
    r.clock.t += 500;
  }
  // 20 looks over 10 s at a 3 s interval: reads at 0, 3, 6 and 9 s.
  assert.is(r.reads.length, 4);
  assert.equal(r.writes.map((w) => w.bytesDone), [1, 2, 3]);
});

test('writes only samples that moved forward (none before the first sample)', async () => {
  const r = rig([undefined, { bytesDone: 5, bytesTotal: 10 }, { bytesDone: 5, bytesTotal: 10 }, { bytesDone: 4, bytesTotal: 10 }, { bytesDone: 10, bytesTotal: 10 }]);
  for (let i = 0; i < 5; i++) {
    await r.relay.poll();
    r.clock.t += 3000;
  }
  assert.equal(r.writes.map((w) => w.bytesDone), [5, 10]);
});

test('a failing read or write is logged once and never thrown; a later sample still goes through', async () => {
  const r = rig([new Error('403 forbidden'), { bytesDone: 1, bytesTotal: 10 }, { bytesDone: 2, bytesTotal: 10 }, { bytesDone: 3, bytesTotal: 10 }]);
  await r.relay.poll();
  r.clock.t += 3000;
  r.failWrites.on = true;
  await r.relay.poll();
  r.clock.t += 3000;
  await r.relay.poll();
  r.failWrites.on = false;
  r.clock.t += 3000;
  await r.relay.poll();
  assert.is(r.warnings.length, 1);
  assert.equal(r.writes.map((w) => w.bytesDone), [3]);
});

test('flush relays the last sample at once, inside the interval', async () => {
  const r = rig([{ bytesDone: 4, bytesTotal: 10 }, { bytesDone: 10, bytesTotal: 10 }]);
  await r.relay.poll();
  r.clock.t += 10;
  await r.relay.flush();
  assert.equal(r.writes.map((w) => w.bytesDone), [4, 10]);
});

test.run();
