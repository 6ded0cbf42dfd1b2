import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VirtualMachineRestoreStatus } from '../api/virtualmachinerestore.ts';
import { withRestoreProgress } from './progress.ts';

const status = (): VirtualMachineRestoreStatus => ({
  phase: 'Running',
  disks: [
    { name: 'root', pvcName: 'c-root', sizeBytes: 100, phase: 'Running' },
    { name: 'data', pvcName: 'c-data', sizeBytes: 300, phase: 'Succeeded', bytesWritten: 300, progress: { bytesDone: 300, bytesTotal: 300, percent: 100 } },
  ],
});

test('a sample becomes the disk\'s bytesWritten and progress, and the restore\'s total', () => {
  const next = withRestoreProgress(status(), 'root', { bytesDone: 40, bytesTotal: 100 })!;
  const root = next.disks!.find((d) => d.name === 'root')!;
  assert.equal([root.bytesWritten, root.progress?.percent], [40, 40]);
  assert.equal(next.progress, { bytesDone: 340, bytesTotal: 400, percent: 85 });
});

test('nothing changes for a finished disk, an unknown disk, or a sample that is not ahead', () => {
  const s = status();
  assert.is(withRestoreProgress(s, 'data', { bytesDone: 10, bytesTotal: 300 }), s);
  assert.is(withRestoreProgress(s, 'nope', { bytesDone: 10, bytesTotal: 300 }), s);
  const ahead = withRestoreProgress(s, 'root', { bytesDone: 40, bytesTotal: 100 });
  assert.is(withRestoreProgress(ahead, 'root', { bytesDone: 30, bytesTotal: 100 }), ahead, 'never backwards');
});

test.run();
