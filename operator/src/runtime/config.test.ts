// Runtime configuration: defaults, validation messages that name the variable, frozen result.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRuntimeConfig } from './config.ts';

const fixed = (): string => 'abcd1234';

test('defaults with only the pod identity set', () => {
  const c = parseRuntimeConfig({ POD_NAMESPACE: 'tresor-system', POD_NAME: 'tresor-0' }, fixed);
  assert.equal(c, {
    opsPort: 8080,
    workers: 2,
    watchQuietTimeoutMs: 300_000,
    relistIntervalMs: 1_800_000,
    leaderElection: {
      enabled: true, namespace: 'tresor-system', leaseName: 'tresor-controller-manager', identity: 'tresor-0_abcd1234',
      leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000,
    },
  });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.leaderElection));
});

test('overrides are parsed in seconds and validated', () => {
  const c = parseRuntimeConfig({ TRESOR_LEADER_ELECT: 'false', TRESOR_WORKERS: '4', TRESOR_WATCH_QUIET_TIMEOUT_SECONDS: '0.5' }, fixed);
  assert.is(c.leaderElection.enabled, false);
  assert.is(c.workers, 4);
  assert.is(c.watchQuietTimeoutMs, 500);
});

test('bad values are rejected with the variable name', () => {
  assert.throws(() => parseRuntimeConfig({ TRESOR_LEADER_ELECT: 'false', TRESOR_WORKERS: 'many' }), /TRESOR_WORKERS="many"/);
  assert.throws(() => parseRuntimeConfig({ TRESOR_LEADER_ELECT: 'yes' }), /TRESOR_LEADER_ELECT/);
  assert.throws(() => parseRuntimeConfig({}), /POD_NAMESPACE must be set/);
  assert.throws(() => parseRuntimeConfig({ POD_NAMESPACE: 'n', TRESOR_RENEW_DEADLINE_SECONDS: '20' }), /less than TRESOR_LEASE_DURATION_SECONDS/);
  assert.throws(() => parseRuntimeConfig({ TRESOR_LEADER_ELECT: 'false', TRESOR_OPS_PORT: '70000' }), /TRESOR_OPS_PORT/);
});

test.run();
