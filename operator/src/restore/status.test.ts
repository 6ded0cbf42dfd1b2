import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RestoreDisk, RestorePlan } from './ports.ts';
import * as S from './status.ts';

const disk = (name: string, sizeBytes: number): RestoreDisk => ({ name, pvcName: `vm-${name}`, vaultDiskId: `x.${name}`, manifestId: `m-${name}`, sizeBytes, volumeMode: 'Block', accessModes: ['ReadWriteOnce'] });
const plan: RestorePlan = { mode: 'NewVM', recoveryPoint: 'rp', vaultName: 'v', targetVMName: 'vm', startVM: false, vmSpec: {}, disks: [disk('a', 100), disk('b', 300)] };
const T0 = Date.parse('2026-11-27T01:00:00Z');

test('start, per-disk updates merging by name, done: conditions and phase follow', () => {
  let s = S.applyRestoreUpdate(undefined, S.started(plan, '2026-11-27T01:00:00Z'), { nowMs: T0, generation: 1 });
  assert.is(s.phase, 'Running');
  assert.equal(s.progress, { bytesDone: 0, bytesTotal: 400, percent: 0 });
  s = S.applyRestoreUpdate(s, S.diskRunning(disk('b', 300), 'pod-b', 0), { nowMs: T0 });
  s = S.applyRestoreUpdate(s, S.diskDone(S.diskEnded(disk('a', 100), { ok: true, result: { backupId: 'm-a', diskSize: 100, bytesWritten: 60, bytesDownloaded: 60, durationMs: 5 } }, 1)), { nowMs: T0 });
  assert.equal(s.disks?.map((d) => `${d.name}:${d.phase}:${d.bytesWritten}:${d.pvcName}`), ['a:Succeeded:60:vm-a', 'b:Running:0:vm-b']);
  s = S.applyRestoreUpdate(s, S.disksRestored(plan), { nowMs: T0 });
  s = S.applyRestoreUpdate(s, S.vmCreated(plan, []), { nowMs: T0 });
  s = S.applyRestoreUpdate(s, S.succeeded(plan, '2026-11-27T01:05:00Z'), { nowMs: T0 + 1000 });
  assert.is(s.phase, 'Succeeded');
  assert.equal(s.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`), ['DisksRestored=True/Completed', 'VirtualMachineReady=True/VirtualMachineCreated', 'Succeeded=True/Completed']);
  assert.equal(s.progress, { bytesDone: 400, bytesTotal: 400, percent: 100 });
});

test('a failed disk says why and after how many attempts', () => {
  const e = S.diskEnded(disk('a', 1), { ok: false, message: 'restore pod x failed (exit 1): boom' }, 3);
  assert.is(e.phase, 'Failed');
  assert.is(e.message, 'restore pod x failed (exit 1): boom (after 3 attempt(s))');
});

test('events: started, each disk, the VM, the end (Warning on failure with the reason)', () => {
  const reasons = (u: Parameters<typeof S.restoreEvents>[0]): string[] => S.restoreEvents(u).map(([t, r]) => `${t}/${r}`);
  assert.equal(reasons(S.started(plan, 'x')), ['Normal/RestoreStarted']);
  assert.equal(reasons(S.diskDone(S.diskEnded(disk('a', 1), { ok: true, result: { backupId: 'm-a', diskSize: 1, bytesWritten: 1, bytesDownloaded: 1, durationMs: 1 } }, 1))), ['Normal/DiskRestored']);
  assert.equal(reasons(S.vmCreated(plan, ['c'])), ['Normal/VirtualMachineCreated']);
  assert.equal(reasons(S.succeeded(plan, 'x')), ['Normal/RestoreSucceeded']);
  const failed = S.restoreEvents(S.failed('TargetExists', 'VirtualMachine vm already exists', 'x'));
  assert.equal(failed, [['Warning', 'RestoreFailed', 'TargetExists: VirtualMachine vm already exists']]);
});

test('the restore pod report is checked: JSON, complete, the right backup, not larger than recorded', () => {
  const d = disk('a', 100);
  const ok = S.parseRestoreReport('{"diskId":"x.a","backupId":"m-a","diskSize":100,"bytesWritten":40,"bytesDownloaded":30,"zeroBlocks":1,"durationMs":9}\n', d);
  assert.equal(ok, { backupId: 'm-a', diskSize: 100, bytesWritten: 40, bytesDownloaded: 30, durationMs: 9 });
  assert.throws(() => S.parseRestoreReport('Error: no such manifest', d), /did not end with a JSON report/);
  assert.throws(() => S.parseRestoreReport('{"backupId":"m-a"}', d), /incomplete/);
  assert.throws(() => S.parseRestoreReport('{"backupId":"m-b","diskSize":100,"bytesWritten":1,"bytesDownloaded":1,"durationMs":1}', d), /restored backup m-b, not m-a/);
  assert.throws(() => S.parseRestoreReport('{"backupId":"m-a","diskSize":200,"bytesWritten":1,"bytesDownloaded":1,"durationMs":1}', d), /holds 200 bytes, more than the 100/);
});

test.run();
