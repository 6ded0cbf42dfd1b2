// The Helm chart (charts/tresor) with the real helm and promtool (built by hack/build-helm.sh, cached by
// version) against the real apiserver: its CRDs are the generated ones, it lints, it renders every
// TRESOR_* setting the operator reads, the apiserver accepts every rendered object and `helm install`
// deploys it, the RBAC grants the operator and its pods exactly the verbs the code uses
// (SubjectAccessReviews as each ServiceAccount), and
// the alert rules pass `promtool check rules` and `promtool test rules` (docs/alerts is the chart's
// rendering with default values). Without helm or promtool the affected tests are skipped with a message.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { installCrds } from '../../operator/src/api/install.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, kubectl, uniqueSuffix } from '../harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(ROOT, 'charts/tresor');
const ALERTS = join(ROOT, 'docs/alerts');

/** The cached binary hack/build-helm.sh builds for `tool`, or undefined when it was not built. */
function toolPath(tool: 'helm' | 'promtool'): string | undefined {
  const v = tool === 'helm' ? 'HELM_VERSION' : 'PROMETHEUS_VERSION';
  const p = spawnSync('bash', ['-c', `source hack/versions.sh && echo "$TRESOR_BIN/${tool}-$${v}/${tool}"`], { cwd: ROOT, encoding: 'utf8' });
  const path = p.stdout.trim();
  return path && existsSync(path) ? path : undefined;
}

const HELM = toolPath('helm');
const PROMTOOL = toolPath('promtool');
for (const [tool, path] of [['helm', HELM], ['promtool', PROMTOOL]] as const) {
  if (!path) process.stderr.write(`chart.test.ts: ${tool} is not built; its tests are SKIPPED. Build it with: bash hack/build-helm.sh ${tool} (npm run setup does)\n`);
}

interface Run { code: number; stdout: string; stderr: string }
function run(cmd: string, args: readonly string[], input?: string): Run {
  const p = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', input, timeout: 120_000 });
  if (p.error) throw p.error;
  return { code: p.status ?? -1, stdout: p.stdout, stderr: p.stderr };
}

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> } & Record<string, unknown>;

/** `helm template` with `--set-json` values; throws with helm's message on failure. */
function template(release: string, namespace: string, values: Record<string, unknown>): Obj[] {
  const sets = Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
  // --skip-tests: the helm test pod needs the chart's test ServiceAccount, which a dry run does not create.
  const r = run(HELM!, ['template', release, CHART, '--namespace', namespace, '--skip-tests', ...sets]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

const ALL_ON = {
  'postgres.existingSecret': 'tresor-pg',
  'metrics.serviceMonitor.enabled': true,
  'alerts.prometheusRule.enabled': true,
  'pods.nodeSelector': { 'kubernetes.io/hostname': 'node-1', zone: 'a' },
  'operator.watchNamespace': 'vms',
  'operator.appVersion': '0.1.0',
  'vaults.filesystem.allow': ['vms:/srv/tresor', 'vms:pvc'],
  'vaults.s3.allowedEndpoints': ['https://s3.eu-west-1.amazonaws.com'],
};

const find = (objs: Obj[], kind: string, name?: string): Obj => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `rendered ${kind} ${name ?? ''}`);
  return o!;
};

type Container = { env: Array<{ name: string; value?: string; valueFrom?: unknown }>; securityContext: Record<string, unknown>; livenessProbe: { httpGet: { path: string; port: string } }; readinessProbe: { httpGet: { path: string; port: string } }; ports: Array<{ name: string; containerPort: number }> };
const containerOf = (d: Obj): Container => (d.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!;

const helmSuite = suite('helm chart charts/tresor');
/** Registers a test, or a skipped one when helm is not built. */
const h = HELM ? helmSuite : helmSuite.skip;

// Needs neither helm nor a cluster, so it runs (and can fail) even where helm is not built.
const sync = suite('chart CRDs in sync');

sync('the chart\'s CRDs are the ones generated from operator/src/api', () => {
  const r = run(process.execPath, ['hack/verify-crds.ts', '--dir', 'charts/tresor/crds']);
  assert.is(r.code, 0, `${r.stdout}${r.stderr}\nregenerate with: node hack/update-crds.ts --dir charts/tresor/crds`);
});

h('helm lint passes; a missing Postgres URL and values outside the schema are refused with a message', () => {
  const ok = run(HELM!, ['lint', CHART, '--strict', '--set', 'postgres.existingSecret=pg']);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  const noPg = run(HELM!, ['template', 't', CHART]);
  assert.is.not(noPg.code, 0);
  assert.match(noPg.stderr, 'set postgres.existingSecret');
  const bad = run(HELM!, ['template', 't', CHART, '--set', 'postgres.existingSecret=pg', '--set', 'operator.workers=0']);
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, '/operator/workers');
  const noElection = run(HELM!, ['template', 't', CHART, '--set', 'postgres.existingSecret=pg', '--set', 'leaderElection.enabled=false', '--set', 'replicaCount=2']);
  assert.match(noElection.stderr, 'replicaCount > 1 needs leaderElection.enabled');
});

h('the Deployment sets every TRESOR_* variable the operator reads, the URL from a Secret, non-root, read-only root, probes on the ops port', () => {
  const objs = template('tresor', 'tresor-system', ALL_ON);
  const c = containerOf(find(objs, 'Deployment'));
  const env = new Map(c.env.map((e) => [e.name, e]));
  const read = [...new Set(readFileSync(join(ROOT, 'operator/src/operator/config.ts'), 'utf8').match(/TRESOR_[A-Z0-9_]+/g) ?? [])];
  assert.ok(read.length >= 10, `variables found in config.ts: ${read.join(' ')}`);
  const unmapped = read.filter((v) => !env.has(v));
  assert.equal(unmapped, [], `config.ts reads variables the chart does not set: ${unmapped.join(', ')}`);
  assert.equal(env.get('TRESOR_PG_URL')!.valueFrom, { secretKeyRef: { name: 'tresor-pg', key: 'url' } });
  assert.is(env.get('TRESOR_POD_NODE_SELECTOR')!.value, 'kubernetes.io/hostname=node-1,zone=a');
  assert.is(env.get('TRESOR_LEASE_NAMESPACE')!.value, 'tresor-system');
  assert.equal(env.get('TRESOR_EXECUTOR_ID')!.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  assert.is(c.securityContext.readOnlyRootFilesystem, true);
  assert.is(c.securityContext.allowPrivilegeEscalation, false);
  const pod = (find(objs, 'Deployment').spec as { template: { spec: { securityContext: Record<string, unknown> } } }).template.spec;
  assert.is(pod.securityContext.runAsNonRoot, true);
  assert.equal([c.livenessProbe.httpGet, c.readinessProbe.httpGet], [{ path: '/healthz', port: 'ops' }, { path: '/readyz', port: 'ops' }]);
  assert.equal(c.ports, [{ name: 'ops', containerPort: 8080, protocol: 'TCP' }]);
  // The chart-made Secret is used when only a URL is given, never a plain env value.
  const withUrl = template('tresor', 'tresor-system', { 'postgres.url': 'postgres://u:p@pg:5432/tresor' });
  assert.equal(new Map(containerOf(find(withUrl, 'Deployment')).env.map((e) => [e.name, e])).get('TRESOR_PG_URL')!.valueFrom, { secretKeyRef: { name: 'tresor-postgres', key: 'url' } });
  assert.equal((find(withUrl, 'Secret', 'tresor-postgres') as { stringData?: unknown }).stringData, { url: 'postgres://u:p@pg:5432/tresor' });
});

/** Minimal CRDs for the Prometheus Operator's kinds, so the apiserver can take the ServiceMonitor and PrometheusRule. */
function monitoringCrds(): string {
  return ['servicemonitors:ServiceMonitor', 'prometheusrules:PrometheusRule'].map((x) => {
    const [plural, kind] = x.split(':') as [string, string];
    return stringify({
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `${plural}.monitoring.coreos.com` },
      spec: {
        group: 'monitoring.coreos.com', scope: 'Namespaced', names: { plural, kind, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    });
  }).join('---\n');
}

const authz = kubeConfig().makeApiClient(AuthorizationV1Api);

/**
 * What `kubectl auth can-i VERB RESOURCE --as=system:serviceaccount:NS:SA` asks, as a SubjectAccessReview
 * with the ServiceAccount's groups: kubectl itself cannot name the group of a resource the apiserver does
 * not serve (subresources.kubevirt.io without KubeVirt) and would ask about the wrong resource.
 */
async function canI(q: { sa?: string; user?: string; ns: string; verb: string; resource: string; sub?: string | undefined }): Promise<boolean> {
  const [saNs, saName] = (q.sa ?? ':').split(':') as [string, string];
  const dot = q.resource.indexOf('.');
  const resource = dot < 0 ? q.resource : q.resource.slice(0, dot);
  const group = dot < 0 ? '' : q.resource.slice(dot + 1);
  const review = await authz.createSubjectAccessReview({ body: {
    spec: {
      user: q.user ?? `system:serviceaccount:${saNs}:${saName}`,
      groups: q.user ? ['system:authenticated'] : ['system:serviceaccounts', `system:serviceaccounts:${saNs}`, 'system:authenticated'],
      resourceAttributes: { namespace: q.ns, verb: q.verb, group, resource, ...(q.sub ? { subresource: q.sub } : {}) },
    },
  } });
  return review.status?.allowed === true;
}

function must(r: Run, what: string): string {
  assert.is(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

h('the apiserver accepts every rendered object, helm install deploys it, and the RBAC covers what the operator and its pods call', async () => {
  await installCrds((args) => kubectl(args));
  must(kubectl(['apply', '--server-side', '--dry-run=server', '-f', join(CHART, 'crds')]), 'the chart\'s CRDs');
  if (kubectl(['get', 'crd', 'prometheusrules.monitoring.coreos.com']).code !== 0) {
    must(kubectl(['apply', '--server-side', '--field-manager=tresor-tests', '-f', '-'], { input: monitoringCrds() }), 'monitoring CRDs');
    must(kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/prometheusrules.monitoring.coreos.com', 'crd/servicemonitors.monitoring.coreos.com']), 'monitoring CRDs established');
  }
  const release = `chart-${uniqueSuffix()}`;
  const nss = [await createNamespace('chart-sys'), await createNamespace('chart-vms'), await createNamespace('chart-other')];
  const [sys, vms, other] = nss as [string, string, string];
  // No kubelet runs the operator here: replicas 0 keeps the Deployment from making pods nobody would run.
  const objs = template(release, sys, { ...ALL_ON, replicaCount: 0, backupNamespaces: [vms], 'operator.watchNamespace': '' });
  const manifest = objs.map((o) => stringify(o)).join('---\n');
  try {
    must(kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifest }), 'dry-run apply of the rendered chart');
    // Installed the way users do: helm install against the real apiserver (CRDs already present are kept).
    const sets = Object.entries({ ...ALL_ON, replicaCount: 0, backupNamespaces: [vms], 'operator.watchNamespace': '' }).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
    must(run(HELM!, ['install', release, CHART, '--namespace', sys, ...sets]), 'helm install');
    const status = must(run(HELM!, ['status', release, '--namespace', sys, '-o', 'json']), 'helm status');
    assert.is((JSON.parse(status) as { info: { status: string } }).info.status, 'deployed');
    const fullname = `${release}-tresor`;
    const can = (sa: string, ns: string, verb: string, [resource, sub]: [string, string?]): Promise<boolean> => canI({ sa, ns, verb, resource, sub });
    const op = `${sys}:${fullname}`;
    const need: Array<[string, string, string?]> = [
      ...['get', 'list', 'watch', 'create', 'delete'].map((v): [string, string] => [v, 'pods']),
      ...['get', 'list', 'create', 'patch', 'delete'].map((v): [string, string] => [v, 'persistentvolumeclaims']),
      ...['get', 'create', 'patch'].map((v): [string, string] => [v, 'events']),
      ['get', 'secrets'],
      ['get', 'namespaces'],
      ...['get', 'list', 'create', 'patch', 'delete'].map((v): [string, string] => [v, 'volumesnapshots.snapshot.storage.k8s.io']),
      ...['get', 'list', 'watch', 'create', 'patch', 'delete'].map((v): [string, string] => [v, 'virtualmachines.kubevirt.io']),
      ['get', 'virtualmachineinstances.kubevirt.io'],
    ];
    for (const kind of ['backuppolicies', 'backupvaults', 'virtualmachinebackups', 'recoverypoints', 'virtualmachinerestores']) {
      for (const v of ['get', 'list', 'watch', 'create', 'patch', 'delete']) need.push([v, `${kind}.tresor.io`]);
      need.push(['patch', `${kind}.tresor.io`, 'status'], ['update', `${kind}.tresor.io`, 'finalizers']);
    }
    const missing: string[] = [];
    for (const [v, r, s] of need) if (!(await can(op, vms, v, [r, s]))) missing.push([v, r, s].join(' '));
    assert.equal(missing, [], `operator lacks: ${missing.join('; ')}`);
    for (const v of ['get', 'create', 'update']) assert.ok(await can(op, sys, v, ['leases.coordination.k8s.io']), `operator ${v} leases in ${sys}`);
    assert.not.ok(await can(op, vms, 'get', ['leases.coordination.k8s.io']), 'leases only in the release namespace');
    assert.not.ok(await can(op, vms, 'create', ['secrets']), 'the operator only reads Secrets');
    assert.not.ok(await can(op, vms, 'update', ['virtualmachineinstances.subresources.kubevirt.io', 'freeze']), 'only the snapshot pod freezes');

    const snap = `${vms}:tresor-snapshot`;
    for (const v of ['get', 'list', 'create']) assert.ok(await can(snap, vms, v, ['volumesnapshots.snapshot.storage.k8s.io']), `snapshot SA ${v} volumesnapshots`);
    for (const sub of ['freeze', 'unfreeze']) assert.ok(await can(snap, vms, 'update', ['virtualmachineinstances.subresources.kubevirt.io', sub]), `snapshot SA ${sub}`);
    assert.not.ok(await can(snap, vms, 'delete', ['volumesnapshots.snapshot.storage.k8s.io']), 'snapshot SA cannot delete snapshots');
    assert.not.ok(await can(`${other}:tresor-snapshot`, other, 'create', ['volumesnapshots.snapshot.storage.k8s.io']), 'no rights outside backupNamespaces');
    const xfer = `${vms}:tresor-transfer`;
    for (const v of ['create', 'patch']) assert.ok(await can(xfer, vms, v, ['events']), `transfer SA ${v} events`);
    assert.not.ok(await can(xfer, vms, 'get', ['secrets']), 'transfer SA reads no Secrets');
    assert.not.ok(await can(xfer, vms, 'get', ['pods']), 'transfer SA has no pod access');
    const vaultSa = `${vms}:tresor-vault`;
    assert.not.ok(await can(vaultSa, vms, 'create', ['events']), 'the vault pods\' account has no rights');

    // Tenants: a user with Kubernetes' edit in vms gets tresor-edit by aggregation; view gets tresor-view.
    const userCan = (user: string, verb: string, resource: string): Promise<boolean> => canI({ user, ns: vms, verb, resource });
    const editor = `editor-${release}`;
    const viewer = `viewer-${release}`;
    must(kubectl(['-n', vms, 'create', 'rolebinding', `${release}-editor`, '--clusterrole=edit', `--user=${editor}`]), 'edit binding');
    must(kubectl(['-n', vms, 'create', 'rolebinding', `${release}-viewer`, '--clusterrole=view', `--user=${viewer}`]), 'view binding');
    const tenant = await eventually('edit aggregates tresor-edit', async () => (await userCan(editor, 'create', 'backuppolicies.tresor.io')) || undefined);
    assert.ok(tenant);
    for (const kind of ['backuppolicies', 'backupvaults', 'virtualmachinebackups', 'virtualmachinerestores']) {
      for (const v of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']) assert.ok(await userCan(editor, v, `${kind}.tresor.io`), `editor ${v} ${kind}`);
    }
    for (const v of ['get', 'list', 'watch', 'delete', 'patch']) assert.ok(await userCan(editor, v, 'recoverypoints.tresor.io'), `editor ${v} recoverypoints`);
    assert.not.ok(await userCan(editor, 'create', 'recoverypoints.tresor.io'), 'tenants never create recovery points');
    assert.not.ok(await canI({ user: editor, ns: vms, verb: 'patch', resource: 'recoverypoints.tresor.io', sub: 'status' }), 'nor write any status');
    assert.not.ok(await canI({ user: editor, ns: sys, verb: 'get', resource: 'secrets' }), 'no Secret of the operator\'s namespace');
    assert.not.ok(await canI({ user: editor, ns: '', verb: 'use', resource: 'filesystemvaults.tresor.io' }), 'no admin grant of filesystem vaults');
    await eventually('view aggregates tresor-view', async () => (await userCan(viewer, 'list', 'recoverypoints.tresor.io')) || undefined);
    for (const v of ['create', 'update', 'delete']) assert.not.ok(await userCan(viewer, v, 'backupvaults.tresor.io'), `viewer ${v}`);
  } finally {
    run(HELM!, ['uninstall', release, '--namespace', sys]);
    kubectl(['delete', 'clusterrole,clusterrolebinding', '-l', `app.kubernetes.io/instance=${release}`, '--ignore-not-found']);
    for (const ns of nss) await deleteNamespace(ns);
  }
});

/** The rules of the chart's PrometheusRule rendered with `values`, as a rules file. */
function renderedRules(values: Record<string, unknown>): Record<string, unknown> {
  const rule = find(template('tresor', 'tresor-system', { 'postgres.existingSecret': 'pg', 'alerts.prometheusRule.enabled': true, ...values }), 'PrometheusRule');
  return rule.spec!;
}

h('docs/alerts/tresor-rules.yaml is the chart\'s rules with default values', () => {
  const file = join(ALERTS, 'tresor-rules.yaml');
  const expected = renderedRules({});
  if (process.env.TRESOR_UPDATE_ALERTS) {
    const header = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('#')).join('\n');
    writeFileSync(file, `${header}\n${stringify(expected, { lineWidth: 0 })}`);
  }
  assert.equal(parse(readFileSync(file, 'utf8')), expected, 'regenerate with TRESOR_UPDATE_ALERTS=1 npx node test/run.ts --no-checks test/integration/chart');
});

const promSuite = suite('alert rules with promtool');
const p = PROMTOOL && HELM ? promSuite : promSuite.skip;

p('promtool check rules accepts the rules file and the PrometheusRule with overrides', () => {
  must(run(PROMTOOL!, ['check', 'rules', join(ALERTS, 'tresor-rules.yaml')]), 'promtool check rules docs/alerts/tresor-rules.yaml');
  const dir = mkdtempSync(join(tmpdir(), 'tresor-rules-'));
  try {
    const f = join(dir, 'rules.yaml');
    writeFileSync(f, stringify(renderedRules({ 'alerts.backupMissing.overrides': [{ policy: 'weekly', maxAgeHours: 170 }, { policy: 'monthly', namespace: 'prod', maxAgeHours: 750 }] })));
    must(run(PROMTOOL!, ['check', 'rules', f]), 'promtool check rules (overrides)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

p('promtool test rules: failed, missing and operator-down alerts fire when they should, once per VM', () => {
  const out = must(run(PROMTOOL!, ['test', 'rules', join(ALERTS, 'tresor-rules.test.yaml')]), 'promtool test rules');
  assert.match(out, 'SUCCESS');
});

p('a per-policy override decides over the schedule: weekly VM with a 100 h override pages at 101 h (the schedule would allow 170 h); nightly VMs at 26 h', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tresor-rules-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify(renderedRules({ 'alerts.backupMissing.overrides': [{ policy: 'weekly', maxAgeHours: 100 }], 'alerts.backupMissing.for': '0m' })));
    const series = (vm: string, policy: string): Record<string, string> => ({ series: `tresor_backup_last_success_timestamp_seconds{namespace="prod",vm="${vm}",policy="${policy}"}`, values: '0+0x200' });
    const alert = (vm: string, policy: string): Record<string, unknown> => ({ exp_labels: { severity: 'critical', namespace: 'prod', vm, policy } });
    const tests = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [{
        interval: '1h',
        input_series: [
          series('w', 'weekly'), series('n', 'nightly'),
          { series: 'tresor_backup_policy_max_interval_seconds{namespace="prod",policy="nightly"}', values: '86400+0x200' },
          { series: 'tresor_backup_policy_max_interval_seconds{namespace="prod",policy="weekly"}', values: '604800+0x200' },
        ],
        alert_rule_test: [
          { eval_time: '27h', alertname: 'TresorBackupMissing', exp_alerts: [alert('n', 'nightly')] },
          { eval_time: '99h', alertname: 'TresorBackupMissing', exp_alerts: [alert('n', 'nightly')] },
          { eval_time: '101h', alertname: 'TresorBackupMissing', exp_alerts: [alert('n', 'nightly'), alert('w', 'weekly')] },
        ],
      }],
    };
    writeFileSync(join(dir, 'test.yaml'), stringify(tests));
    // Annotations are not compared here (exp_annotations absent means "any" only in newer promtool), so drop them.
    const rules = parse(readFileSync(join(dir, 'rules.yaml'), 'utf8')) as { groups: Array<{ rules: Array<Record<string, unknown>> }> };
    for (const g of rules.groups) for (const r of g.rules) delete r.annotations;
    writeFileSync(join(dir, 'rules.yaml'), stringify(rules));
    must(run(PROMTOOL!, ['test', 'rules', join(dir, 'test.yaml')]), 'promtool test rules (override)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

sync.run();
helmSuite.run();
promSuite.run();
