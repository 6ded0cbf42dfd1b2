import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkRequirement, decideConsistency, meets, planSnapshot, type GuestObservation } from './consistency.ts';

const linux: GuestObservation = { running: true, agentConnected: true, os: 'linux', hooksConfigured: false };
const windows: GuestObservation = { ...linux, os: 'windows' };

test('levels order strongest first', () => {
  assert.ok(meets('ApplicationConsistent', 'CrashConsistent'));
  assert.ok(meets('FileSystemConsistent', 'FileSystemConsistent'));
  assert.not.ok(meets('CrashConsistent', 'FileSystemConsistent'));
  assert.not.ok(meets('FileSystemConsistent', 'ApplicationConsistent'));
});

test('a stopped VM is file-system consistent without a freeze', () => {
  const plan = planSnapshot({ ...linux, running: false, agentConnected: false });
  assert.is(plan.freeze, false);
  assert.is(plan.best.level, 'FileSystemConsistent');
  assert.is(plan.best.reason, 'VirtualMachineStopped');
  assert.is(plan.best.degraded, false);
});

test('no guest agent: crash-consistent, degraded, no freeze attempted', () => {
  const plan = planSnapshot({ ...linux, agentConnected: false });
  assert.is(plan.freeze, false);
  const got = decideConsistency({ ...linux, agentConnected: false }, { freeze: 'skipped', hooks: 'none' });
  assert.equal([got.level, got.reason, got.degraded], ['CrashConsistent', 'GuestAgentNotConnected', true]);
});

test('Linux without hooks: file-system consistent, not degraded', () => {
  const got = decideConsistency(linux, { freeze: 'ok', hooks: 'none' });
  assert.equal([got.level, got.reason, got.degraded], ['FileSystemConsistent', 'NoApplicationHooks', false]);
});

test('Linux with successful hooks: application consistent', () => {
  const guest = { ...linux, hooksConfigured: true };
  assert.is(planSnapshot(guest).runHooks, true);
  const got = decideConsistency(guest, { freeze: 'ok', hooks: 'ok' });
  assert.equal([got.level, got.reason], ['ApplicationConsistent', 'ApplicationHooksSucceeded']);
});

test('Linux with a failing hook: file-system consistent and degraded', () => {
  const got = decideConsistency({ ...linux, hooksConfigured: true }, { freeze: 'ok', hooks: 'failed', detail: 'exit 3' });
  assert.equal([got.level, got.reason, got.degraded], ['FileSystemConsistent', 'HookFailed', true]);
});

test('Windows with a successful freeze: application consistent through VSS', () => {
  const got = decideConsistency(windows, { freeze: 'ok', hooks: 'none' });
  assert.equal([got.level, got.reason], ['ApplicationConsistent', 'VSSSucceeded']);
});

test('a failed or timed-out freeze falls back to crash-consistent with the agent\'s words', () => {
  const failed = decideConsistency(windows, { freeze: 'failed', hooks: 'none', detail: 'VSS writer timed out' });
  assert.equal([failed.level, failed.reason, failed.degraded], ['CrashConsistent', 'FreezeFailed', true]);
  assert.match(failed.message, /VSS writer timed out/);
  const slow = decideConsistency(linux, { freeze: 'timedOut', hooks: 'none' });
  assert.equal([slow.level, slow.reason], ['CrashConsistent', 'FreezeTimedOut']);
});

test('a policy demanding more than the snapshot reached fails with a reason that says what to fix', () => {
  const got = decideConsistency(linux, { freeze: 'ok', hooks: 'none' });
  assert.is(checkRequirement(got, 'FileSystemConsistent'), undefined);
  const short = checkRequirement(got, 'ApplicationConsistent');
  assert.ok(short);
  assert.is(short.reason, 'ConsistencyNotMet');
  assert.match(short.message, /requires ApplicationConsistent/);
  assert.match(short.message, /NoApplicationHooks/);
});

test('the plan predicts the shortfall before any freeze: no agent cannot meet FileSystemConsistent', () => {
  const plan = planSnapshot({ ...linux, agentConnected: false });
  assert.ok(checkRequirement(plan.best, 'FileSystemConsistent'));
  assert.is(checkRequirement(plan.best, 'CrashConsistent'), undefined);
});

test.run();
