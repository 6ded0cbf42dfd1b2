import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RecoveryPointObject } from '../../api/types.ts';
import type { RecoveryPointRecord } from '../ports.ts';
import { isSameRecoveryPoint, recoveryPointObject } from './recovery-point.ts';

const job = { namespace: 'team-a', name: 'nightly-web-1', uid: 'job-uid' };
const record: RecoveryPointRecord = {
  vmName: 'web', vaultName: 'vault', consistency: 'CrashConsistent', keepSnapshots: false,
  disks: [{ disk: { name: 'root', pvcName: 'web-root', volumeMode: 'Block', sizeBytes: 1 << 20 }, result: { type: 'Full', changeDetection: 'None', manifestId: '20261203T010000000Z-aaaaaa', bytesRead: 1, bytesUploaded: 1 } }],
};
const want = recoveryPointObject({ job, record, vm: { metadata: { uid: 'vm-uid' }, spec: { running: true } }, pvcs: new Map(), capturedAtMs: 0 });
const clone = (f: (o: RecoveryPointObject) => void): RecoveryPointObject => {
  const o = structuredClone(want);
  f(o);
  return o;
};

test('adoption: an earlier attempt of the same step is adopted, even with a newer VM spec or capture time', () => {
  assert.ok(isSameRecoveryPoint(structuredClone(want), want));
  assert.ok(isSameRecoveryPoint(clone((o) => { o.spec.vmSpec = { running: false }; o.spec.capturedAt = '2026-12-03T01:00:00Z'; }), want));
});

test('adoption: a point planted in advance is refused: other manifest, disk id, VM, vault, or without our labels', () => {
  assert.not.ok(isSameRecoveryPoint(clone((o) => { o.spec.disks[0]!.manifestId = '20261203T010000000Z-ffffff'; }), want), 'manifest');
  assert.not.ok(isSameRecoveryPoint(clone((o) => { o.spec.disks[0]!.vaultDiskId = 'team-b.vm-uid.root'; }), want), 'disk id of another namespace');
  assert.not.ok(isSameRecoveryPoint(clone((o) => { o.spec.vmUID = 'other'; }), want), 'vm');
  assert.not.ok(isSameRecoveryPoint(clone((o) => { o.spec.vaultRef = { name: 'other' }; }), want), 'vault');
  assert.not.ok(isSameRecoveryPoint(clone((o) => { delete o.metadata.labels; }), want), 'labels');
  assert.not.ok(isSameRecoveryPoint(clone((o) => { o.spec.disks.push({ ...o.spec.disks[0]!, name: 'extra' }); }), want), 'extra disk');
});

test.run();
