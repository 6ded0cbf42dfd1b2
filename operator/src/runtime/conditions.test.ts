// Condition bookkeeping as users read it: "Ready False since 10:00" must not reset on every pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findCondition, formatTime, isConditionTrue, removeCondition, setCondition, setConditions } from './conditions.ts';

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0, 500);
const T1 = T0 + 60_000;

test('a new condition gets the current time in metav1.Time form', () => {
  const c = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'VaultMissing', message: 'vault v not found', observedGeneration: 1 }, T0);
  assert.equal(c, [{ type: 'Ready', status: 'False', reason: 'VaultMissing', message: 'vault v not found', observedGeneration: 1, lastTransitionTime: '2026-01-01T10:00:00Z' }]);
  assert.is(formatTime(T0), '2026-01-01T10:00:00Z');
});

test('same status with a new reason or message keeps lastTransitionTime', () => {
  const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'VaultMissing', message: 'm1' }, T0);
  const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'SecretMissing', message: 'm2', observedGeneration: 2 }, T1);
  assert.is(findCondition(b, 'Ready')?.lastTransitionTime, '2026-01-01T10:00:00Z');
  assert.is(findCondition(b, 'Ready')?.reason, 'SecretMissing');
  assert.is(findCondition(b, 'Ready')?.observedGeneration, 2);
});

test('a status flip moves lastTransitionTime', () => {
  const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'R', message: '' }, T0);
  const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, T1);
  assert.is(findCondition(b, 'Ready')?.lastTransitionTime, '2026-01-01T10:01:00Z');
});

test('an unchanged update returns the same array (lets the status writer skip the write)', () => {
  const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', observedGeneration: 3 }, T0);
  assert.is(setCondition(a, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', observedGeneration: 3 }, T1), a);
  assert.is(removeCondition(a, 'Absent'), a);
});

test('order of conditions is stable; other conditions are untouched', () => {
  const a = setConditions(undefined, [
    { type: 'SnapshotTaken', status: 'True', reason: 'Taken', message: '' },
    { type: 'Succeeded', status: 'Unknown', reason: 'InProgress', message: '' },
  ], T0);
  const b = setCondition(a, { type: 'SnapshotTaken', status: 'False', reason: 'Failed', message: 'x' }, T1);
  assert.equal(b.map((c) => c.type), ['SnapshotTaken', 'Succeeded']);
  assert.is(b[1], a[1]);
  assert.equal(removeCondition(b, 'SnapshotTaken').map((c) => c.type), ['Succeeded']);
});

test('isConditionTrue can require the observed generation', () => {
  const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ready', message: '', observedGeneration: 2 }, T0);
  assert.ok(isConditionTrue(a, 'Ready'));
  assert.ok(isConditionTrue(a, 'Ready', 2));
  assert.not.ok(isConditionTrue(a, 'Ready', 3), 'stale: spec changed since');
  assert.not.ok(isConditionTrue(a, 'Other'));
});

test.run();
