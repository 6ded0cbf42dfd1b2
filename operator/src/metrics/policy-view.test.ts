// Schedule gaps per policy: what the missing-backup alert's threshold is scaled by, and the policy gauges
// in real prom-client output.
import { Registry } from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupPolicyObject } from '../api/types.ts';
import { BACKUP_METRIC as M, createBackupMetrics } from './backup-metrics.ts';
import { maxScheduleGapMs } from './policy-view.ts';

const H = 3_600_000;
const FROM = Date.parse('2026-11-27T04:00:00Z');

test('the longest gap between slots: daily 24 h, weekdays 72 h over the weekend, weekly 168 h, hourly 1 h', () => {
  assert.is(maxScheduleGapMs('0 3 * * *', 'UTC', FROM), 24 * H);
  assert.is(maxScheduleGapMs('@daily', 'UTC', FROM), 24 * H);
  assert.is(maxScheduleGapMs('0 3 * * 1-5', 'UTC', FROM), 72 * H);
  assert.is(maxScheduleGapMs('0 3 * * 0', 'UTC', FROM), 168 * H);
  assert.is(maxScheduleGapMs('0 * * * *', 'UTC', FROM), H);
  assert.is(maxScheduleGapMs('0 2 1 * *', 'UTC', FROM), 31 * 24 * H);
});

test('a daily schedule across a DST change has a 25 h gap in that zone; an invalid schedule has none', () => {
  // Europe/Berlin leaves summer time on the last Sunday of October: 2026-10-25.
  assert.is(maxScheduleGapMs('0 3 * * *', 'Europe/Berlin', Date.parse('2026-10-20T00:00:00Z')), 25 * H);
  assert.is(maxScheduleGapMs('not a cron', 'UTC', FROM), undefined);
});

function policy(name: string, schedule: string, suspend = false): BackupPolicyObject {
  return {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name, namespace: 'prod' },
    spec: { schedule, suspend, vmSelector: { matchLabels: { a: 'b' } }, vaultRef: { name: 'v' }, retention: { keepLast: 3 } },
  } as unknown as BackupPolicyObject;
}

test('policy gauges: max interval per policy and suspended 0/1; none without a policy source', async () => {
  const registry = new Registry();
  const policies = [policy('nightly', '0 3 * * *'), policy('weekly', '0 3 * * 0', true)];
  createBackupMetrics({ registry, backups: () => [], recoveryPoints: () => [], policies: () => policies, now: () => FROM });
  const out = await registry.metrics();
  assert.match(out, `${M.policyMaxIntervalSeconds}{namespace="prod",policy="nightly"} 86400`);
  assert.match(out, `${M.policyMaxIntervalSeconds}{namespace="prod",policy="weekly"} 604800`);
  assert.match(out, `${M.policySuspended}{namespace="prod",policy="nightly"} 0`);
  assert.match(out, `${M.policySuspended}{namespace="prod",policy="weekly"} 1`);
  policies.pop();
  assert.not.match(await registry.metrics(), 'policy="weekly"');
  const bare = new Registry();
  createBackupMetrics({ registry: bare, backups: () => [], recoveryPoints: () => [] });
  assert.not.match(await bare.metrics(), M.policySuspended);
});

test.run();
