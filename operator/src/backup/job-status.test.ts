import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConditionTypes as C, Reasons as R } from '../api/constants.ts';
import { failed } from './job-status.ts';

const t = suite('backup: job status on failure');

t('a failure closes the step under way with its reason, and says the children are gone', () => {
  const u = failed(R.TransferFailed, 'disk transfer failed: root: exit 1', '2026-11-27T04:00:00Z', C.DataTransferred);
  assert.is(u.fields.phase, 'Failed');
  const byType = new Map(u.conditions.map((c) => [c.type, c]));
  assert.equal([byType.get(C.DataTransferred)?.status, byType.get(C.DataTransferred)?.reason], ['False', R.TransferFailed]);
  assert.match(byType.get(C.DataTransferred)?.message ?? '', 'root: exit 1');
  assert.is(byType.get(C.SnapshotDeleted)?.status, 'True');
  assert.equal([byType.get(C.Succeeded)?.status, byType.get(C.Succeeded)?.reason], ['False', R.TransferFailed]);
});

t('without a known step only the summary and cleanup conditions change', () => {
  const u = failed(R.SnapshotFailed, 'boom', '2026-11-27T04:00:00Z');
  assert.equal(u.conditions.map((c) => c.type).sort(), [C.SnapshotDeleted, C.Succeeded].sort());
});

t.run();
