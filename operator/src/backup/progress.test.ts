import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeProgress, encodeProgress, jobProgress, percentOf, progressMessage, withDiskProgress, type DiskProgressEntry } from './progress.ts';

const MiB = 1 << 20;
const status = (disks: DiskProgressEntry[]): { phase: string; disks: DiskProgressEntry[] } => ({ phase: 'Running', disks });
const pending = (name: string): DiskProgressEntry => ({ name, phase: 'Pending', sizeBytes: 8 * MiB });

test('samples round-trip; malformed or negative ones are refused; done is clamped to total', () => {
  assert.equal(decodeProgress(encodeProgress({ bytesDone: 5, bytesTotal: 10 })), { bytesDone: 5, bytesTotal: 10 });
  for (const bad of [undefined, '', 'nope', '[]', 'null', '{"bytesDone":-1,"bytesTotal":3}', '{"bytesDone":1.5,"bytesTotal":3}', '{"bytesDone":"1","bytesTotal":3}', '{"bytesTotal":3}']) {
    assert.is(decodeProgress(bad), undefined, String(bad));
  }
  assert.equal(decodeProgress('{"bytesDone":12,"bytesTotal":10}'), { bytesDone: 10, bytesTotal: 10 });
});

test('percent rounds down, so 100 only when every byte is done; an empty total is 0', () => {
  assert.is(percentOf(999, 1000), 99);
  assert.is(percentOf(1000, 1000), 100);
  assert.is(percentOf(0, 0), 0);
  assert.is(progressMessage({ bytesDone: 4 * MiB, bytesTotal: 8 * MiB }), 'read 4.0 MiB of 8.0 MiB (50%)');
});

test('a sample sets the disk Running with its attempt and progress, and the job total over all disks', () => {
  const next = withDiskProgress(status([pending('a'), pending('b')]), { disk: 'a', attempt: 0, progress: { bytesDone: 2 * MiB, bytesTotal: 8 * MiB } });
  assert.equal(next?.disks[0], { name: 'a', phase: 'Running', sizeBytes: 8 * MiB, attempts: 1, progress: { bytesDone: 2 * MiB, bytesTotal: 8 * MiB, percent: 25 } });
  assert.equal(next?.disks[1], pending('b'));
  assert.equal((next as { progress?: unknown }).progress, { bytesDone: 2 * MiB, bytesTotal: 16 * MiB, percent: 12 });
});

test('within one attempt progress never goes backwards; a new attempt starts again from its own samples', () => {
  const at6 = withDiskProgress(status([pending('a')]), { disk: 'a', attempt: 0, progress: { bytesDone: 6, bytesTotal: 8 } })!;
  assert.is(withDiskProgress(at6, { disk: 'a', attempt: 0, progress: { bytesDone: 3, bytesTotal: 8 } }), at6, 'same object: nothing to write');
  const retry = withDiskProgress(at6, { disk: 'a', attempt: 1, progress: { bytesDone: 1, bytesTotal: 8 } })!;
  assert.equal(retry.disks[0]?.progress, { bytesDone: 1, bytesTotal: 8, percent: 12 });
  assert.is(retry.disks[0]?.attempts, 2);
});

test('a finished or unknown disk, or no status at all, is left alone', () => {
  const done = status([{ name: 'a', phase: 'Succeeded', progress: { bytesDone: 8, bytesTotal: 8, percent: 100 } }]);
  assert.is(withDiskProgress(done, { disk: 'a', attempt: 0, progress: { bytesDone: 9, bytesTotal: 10 } }), done);
  const s = status([pending('a')]);
  assert.is(withDiskProgress(s, { disk: 'zz', attempt: 0, progress: { bytesDone: 1, bytesTotal: 2 } }), s);
  assert.is(withDiskProgress(undefined, { disk: 'a', attempt: 0, progress: { bytesDone: 1, bytesTotal: 2 } }), undefined);
});

test('job total: sizes stand in for disks without a sample; finished disks count in full', () => {
  assert.equal(jobProgress([pending('a'), pending('b')]), { bytesDone: 0, bytesTotal: 16 * MiB, percent: 0 });
  assert.equal(jobProgress([{ name: 'a', progress: { bytesDone: 8, bytesTotal: 8, percent: 100 } }, { name: 'b', progress: { bytesDone: 8, bytesTotal: 8, percent: 100 } }]), { bytesDone: 16, bytesTotal: 16, percent: 100 });
});

test.run();
