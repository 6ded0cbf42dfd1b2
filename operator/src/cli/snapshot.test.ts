import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { goDuration } from '../backup/kube/snapshot-pod.ts';
import { parseSnapshotArgs } from './snapshot.ts';

const base = ['--namespace', 'ns', '--vmi', 'web', '--job', 'j', '--job-uid', 'u'];

test('snapshot args: disks as NAME=PVC, freeze flag, Go-duration timeout', () => {
  const a = parseSnapshotArgs([...base, '--disk', 'root=web-root', '--disk', 'data=web-data', '--freeze', '--freeze-timeout', '1m30s']);
  assert.equal([...a.disks], [['root', 'web-root'], ['data', 'web-data']]);
  assert.is(a.freeze, true);
  assert.is(a.hooks, false);
  assert.is(a.freezeTimeoutMs, 90_000);
  assert.is(a.terminationLog, '/dev/termination-log');
});

test('snapshot args: mistakes are refused with the usage', () => {
  assert.throws(() => parseSnapshotArgs(base), /at least one --disk/);
  assert.throws(() => parseSnapshotArgs([...base, '--disk', 'root']), /NAME=PVC/);
  assert.throws(() => parseSnapshotArgs(['--disk', 'a=b']), /--namespace is required/);
  assert.throws(() => parseSnapshotArgs([...base, '--disk', 'a=b', '--bogus']));
});

test('unfreeze timeouts are Go durations KubeVirt accepts', () => {
  assert.is(goDuration(60_000), '60s');
  assert.is(goDuration(1500), '1500ms');
});

test.run();
