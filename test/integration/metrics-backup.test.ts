// The backup metrics through the real operator process (operator/src/main.ts) against the real apiserver
// and Postgres: a job that fails (its policy does not exist) shows up at /metrics as a failed newest job
// with its reason, in the failure counter and in the jobs-per-phase gauge; a recovery point shows up as the
// VM's last success; a policy shows its longest schedule gap and whether it is suspended. After a restart
// the scrape-time gauges say the same, while the transition counter starts from nothing (it counts only
// what the new process saw happen) — the semantics ADR 0080 documents.
// The operator's controllers wait for every informer, KubeVirt's VirtualMachines included, so this suite
// installs the test KubeVirt CRDs itself (it used to rely on an earlier suite's node agent having done it,
// and timed out when run alone on a fresh environment), and checks /readyz before expecting any work.
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type ReadyProcess, startReady } from '../../hack/process.ts';
import { installCrds } from '../../operator/src/api/install.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, kubectl, testEnv, uniqueSuffix } from '../harness.ts';

const MAIN = fileURLToPath(new URL('../../operator/src/main.ts', import.meta.url));
const KUBEVIRT_CRDS = fileURLToPath(new URL('../../hack/crds/kubevirt.yaml', import.meta.url));
const TRESOR = { group: 'tresor.io', version: 'v1alpha1' };
const custom = kubeConfig().makeApiClient(CustomObjectsApi);

interface Proc { proc: ReadyProcess; port: number }
interface Ctx { ns: string; db: string; op?: Proc }

/** Starts the operator process and resolves with the ops port it printed. */
async function startOperator(ctx: Ctx): Promise<Proc> {
  const pg = new URL(testEnv().pgUrl);
  pg.pathname = `/${ctx.db}`;
  const env = { ...process.env, TRESOR_PG_URL: pg.toString(), TRESOR_EXECUTOR_ID: ctx.db, TRESOR_WATCH_NAMESPACE: ctx.ns, TRESOR_OPS_PORT: '0' };
  const proc = await startReady({ what: 'operator', args: [MAIN], env, readyText: 'tresor operator ready', timeoutMs: 180_000 });
  const m = /tresor operator ready \(ops port (\d+)\)/.exec(proc.output());
  if (!m) throw new Error(`no ops port in the ready line:\n${proc.output()}`);
  const port = Number(m[1]);
  // Ready means every cache synced (ADR 0110): only then do the controllers run.
  await eventually('the operator ready at /readyz', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), 120_000);
  return { proc, port };
}

async function stopOperator(p: Proc | undefined): Promise<void> {
  await p?.proc.stop(20_000);
}

async function scrape(p: Proc): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${p.port}/metrics`);
  assert.is(r.status, 200);
  return r.text();
}

/** The value of the series `name{labels}` in a scrape, or undefined. */
function value(text: string, name: string, labels: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(`${name}{${labels}} `));
  return l === undefined ? undefined : Number(l.slice(l.lastIndexOf(' ') + 1));
}

const t = suite<Ctx>('backup metrics at /metrics of the operator process');

t.before(async (ctx) => {
  await installCrds((args) => kubectl(args));
  const applied = kubectl(['apply', '-f', KUBEVIRT_CRDS]);
  if (applied.code !== 0) throw new Error(`installing the test KubeVirt CRDs: ${applied.stderr}`);
  const est = kubectl(['wait', '--for=condition=Established', '--timeout=120s', 'crd/virtualmachines.kubevirt.io', 'crd/virtualmachineinstances.kubevirt.io']);
  if (est.code !== 0) throw new Error(`the KubeVirt CRDs did not become Established: ${est.stderr}`);
  ctx.ns = await createNamespace('metrics');
  ctx.db = `tresor_metrics_${uniqueSuffix()}`;
});

t.after(async (ctx) => {
  await stopOperator(ctx.op);
  if (ctx.ns) await deleteNamespace(ctx.ns);
});

const CAPTURED = '2026-11-20T02:00:00Z';

t('a failed job and a recovery point are visible at /metrics, and the gauges survive a restart', async (ctx) => {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint', metadata: { name: 'db-old' },
    spec: {
      vmName: 'db', capturedAt: CAPTURED, consistency: 'CrashConsistent', backupType: 'Full', sizeBytes: 4096, vaultRef: { name: 'vault' },
      sourceBackup: 'db-old', policyName: 'nightly', disks: [{ name: 'root', vaultDiskId: 'd', manifestId: 'm', type: 'Full', sizeBytes: 4096, storedBytes: 1234 }],
    },
  } });
  // A suspended weekly policy selecting nothing: only its schedule and suspension show, as policy gauges.
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: 'weekly' },
    spec: { schedule: '0 3 * * 0', vmSelector: { matchLabels: { app: 'none' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 3 }, suspend: true },
  } });
  ctx.op = await startOperator(ctx);
  // The policy does not exist: the job fails terminally with PolicyNotFound, no pod involved.
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name: 'db-1' }, spec: { vmName: 'db', policyRef: { name: 'nightly' } },
  } });
  const vm = `namespace="${ctx.ns}",vm="db",policy="nightly"`;
  const failed = await eventually('the failed job at /metrics', async () => {
    const text = await scrape(ctx.op!);
    return value(text, 'tresor_backup_last_job_failed', `${vm},reason="PolicyNotFound"`) === 1 ? text : undefined;
  }, 120_000);
  assert.is(value(failed, 'tresor_backup_job_failures_total', `${vm},reason="PolicyNotFound"`), 1);
  assert.is(value(failed, 'tresor_backup_jobs', `namespace="${ctx.ns}",phase="Failed"`), 1);
  assert.is(value(failed, 'tresor_recovery_points', `namespace="${ctx.ns}",vm="db"`), 1);
  assert.is(value(failed, 'tresor_recovery_point_latest_timestamp_seconds', `namespace="${ctx.ns}",vm="db"`), Date.parse(CAPTURED) / 1000);
  assert.is(value(failed, 'tresor_recovery_point_stored_bytes', `namespace="${ctx.ns}",vm="db"`), 1234);
  const lastSuccess = value(failed, 'tresor_backup_last_success_timestamp_seconds', vm);
  assert.ok(lastSuccess !== undefined && lastSuccess > Date.parse(CAPTURED) / 1000, `last success from the recovery point: ${lastSuccess}`);
  assert.ok(value(failed, 'tresor_backup_protected_since_timestamp_seconds', vm), 'protected since the job was created');
  assert.is(value(failed, 'tresor_backup_policy_max_interval_seconds', `namespace="${ctx.ns}",policy="weekly"`), 7 * 86_400);
  assert.is(value(failed, 'tresor_backup_policy_suspended', `namespace="${ctx.ns}",policy="weekly"`), 1);

  await stopOperator(ctx.op);
  ctx.op = await startOperator(ctx);
  const again = await eventually('the same gauges after a restart', async () => {
    const text = await scrape(ctx.op!);
    return value(text, 'tresor_backup_last_job_failed', `${vm},reason="PolicyNotFound"`) === 1 ? text : undefined;
  }, 60_000);
  assert.is(value(again, 'tresor_backup_last_success_timestamp_seconds', vm), lastSuccess);
  assert.is(value(again, 'tresor_recovery_points', `namespace="${ctx.ns}",vm="db"`), 1);
  // The job failed before this process started: the transition counter did not see it.
  assert.is(value(again, 'tresor_backup_job_failures_total', `${vm},reason="PolicyNotFound"`), undefined);
});

t.run();
