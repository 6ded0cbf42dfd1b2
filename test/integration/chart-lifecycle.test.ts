// The chart's whole life against the real apiserver, with the operator actually running: the image this
// tree builds (by the digest values.yaml names) is run by the local node agent as the Deployment's pod
// (kube-controller-manager's deployment and replicaset controllers make the pod), `helm install --wait`
// waits for it, `helm test` checks the CRDs are served and the operator answers /readyz, `helm upgrade`
// to a changed value rolls a new pod that passes `helm test` again, and `helm uninstall` leaves nothing
// of the release. chart.test.ts covers lint, rendering, RBAC and alerts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { buildImage, cacheDir, IMAGE_REPOSITORY } from '../../hack/image/build.ts';
import { chartDigest } from '../../hack/image/update-chart.ts';
import { startAgentProcess, type AgentProcess } from '../../hack/node-agent/testing.ts';
import { installCrds } from '../../operator/src/api/install.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, kubectl, testEnv, uniqueSuffix } from '../harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(ROOT, 'charts/tresor');
const core = kubeConfig().makeApiClient(CoreV1Api);
const apps = kubeConfig().makeApiClient(AppsV1Api);

function helmPath(): string | undefined {
  const p = spawnSync('bash', ['-c', 'source hack/versions.sh && echo "$TRESOR_BIN/helm-$HELM_VERSION/helm"'], { cwd: ROOT, encoding: 'utf8' });
  const path = p.stdout.trim();
  return path && existsSync(path) ? path : undefined;
}
const HELM = helmPath();
if (!HELM) process.stderr.write('chart-lifecycle.test.ts: helm is not built; its tests are SKIPPED. Build it with: bash hack/build-helm.sh helm\n');

function helm(args: readonly string[], timeoutMs = 400_000): string {
  const p = spawnSync(HELM!, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
  if (p.error) throw p.error;
  if (p.status !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')} failed (${p.status}):\n${p.stdout}\n${p.stderr}`);
  return p.stdout;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Ctx { out: string; digest: string; agent?: AgentProcess; ns: string; release: string; sets: string[] }
const t = suite<Ctx>('helm chart lifecycle', { out: '', digest: '', ns: '', release: '', sets: [] });
const h = HELM ? t : t.skip;

t.before(async (ctx) => {
  if (!HELM) return;
  ctx.out = mkdtempSync(join(tmpdir(), 'tresor-chart-image-'));
  ctx.digest = buildImage({ repo: ROOT, out: ctx.out, cache: cacheDir() }).manifestDigest;
  const node = `na-chart-${uniqueSuffix()}`;
  ctx.agent = await startAgentProcess({ nodeName: node, args: ['--no-aggregated-api', '--image-layouts', join(ctx.out, 'oci')] });
  await installCrds((args) => kubectl(args));
  ctx.ns = await createNamespace('chart-life');
  ctx.release = `life-${uniqueSuffix()}`;
  await core.createNamespacedSecret({ namespace: ctx.ns, body: { metadata: { name: 'pg' }, stringData: { url: testEnv().pgUrl } } });
  const values: Record<string, unknown> = {
    'postgres.existingSecret': 'pg',
    nodeSelector: { 'kubernetes.io/hostname': node },
    // Pods share the host's network here: a port of its own, so no other process holds it.
    'operator.opsPort': await freePort(),
    'operator.watchNamespace': ctx.ns,
    'podDisruptionBudget.enabled': true,
    'networkPolicy.enabled': true,
    // Host network: a surge pod would find the old pod's port taken.
    updateStrategy: { type: 'Recreate' },
  };
  ctx.sets = Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
});

t.after(async (ctx) => {
  if (ctx.release) spawnSync(HELM!, ['uninstall', ctx.release, '--namespace', ctx.ns], { encoding: 'utf8' });
  if (ctx.ns) await deleteNamespace(ctx.ns);
  await ctx.agent?.stop();
  if (ctx.out) rmSync(ctx.out, { recursive: true, force: true });
});

async function operatorPods(ctx: Ctx): Promise<V1Pod[]> {
  const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `app.kubernetes.io/instance=${ctx.release},app.kubernetes.io/name=tresor` });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp);
}

t('values.schema.json closes every object, so helm refuses any value it does not describe', () => {
  const open: string[] = [];
  const walk = (node: Record<string, unknown>, path: string): void => {
    const props = node.properties as Record<string, Record<string, unknown>> | undefined;
    if (props && node.additionalProperties !== false) open.push(path || '(root)');
    for (const [k, v] of Object.entries(props ?? {})) walk(v, `${path}.${k}`);
  };
  walk(JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Record<string, unknown>, '');
  assert.equal(open, [], 'objects with properties but open to unknown keys');
  const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
  assert.equal(Object.keys(values).filter((k) => !(k in schema.properties)), [], 'top-level values without a schema');
});

h('the chart names the image this tree builds, and the apiserver accepts the full rendering', (ctx) => {
  assert.is(chartDigest(), ctx.digest, 'charts/tresor/values.yaml image.digest is stale: run npm run image:chart');
  // The test pod (a hook) needs the test ServiceAccount, which a dry run does not create; helm test runs it below.
  const rendered = helm(['template', ctx.release, CHART, '--namespace', ctx.ns, '--skip-tests', ...ctx.sets]);
  const r = kubectl(['apply', '--dry-run=server', '-f', '-'], { input: rendered });
  assert.is(r.code, 0, r.stderr);
  for (const kind of ['PodDisruptionBudget', 'NetworkPolicy', 'Deployment']) assert.match(rendered, `kind: ${kind}`);
});

h('helm install runs the operator from the image; helm test finds the CRDs served and the operator ready', async (ctx) => {
  helm(['install', ctx.release, CHART, '--namespace', ctx.ns, ...ctx.sets, '--wait', '--timeout', '6m']);
  const [pod] = await operatorPods(ctx);
  const status = pod?.status?.containerStatuses?.[0];
  assert.is(pod?.spec?.containers[0]?.image, `${IMAGE_REPOSITORY}@${ctx.digest}`, 'the Deployment pulls the image by digest');
  assert.is(status?.imageID, ctx.digest, 'the node ran that image');
  assert.ok(status?.state?.running, JSON.stringify(status?.state));
  await helmTest(ctx);
});

/** `helm test`; on failure the test pod (kept by helm) says why in its termination message. */
async function helmTest(ctx: Ctx): Promise<void> {
  const p = spawnSync(HELM!, ['test', ctx.release, '--namespace', ctx.ns, '--timeout', '5m'], { encoding: 'utf8', timeout: 400_000 });
  if (p.status === 0) {
    assert.match(p.stdout, /Phase:\s+Succeeded/);
    return;
  }
  const pod = await core.readNamespacedPod({ namespace: ctx.ns, name: `${ctx.release}-tresor-test-ready` }).catch(() => undefined);
  assert.unreachable(`helm test failed: ${p.stdout}${p.stderr}\ntest pod: ${pod?.status?.containerStatuses?.[0]?.state?.terminated?.message ?? JSON.stringify(pod?.status?.containerStatuses?.[0]?.state)}`);
}

h('helm upgrade to a changed value rolls a new operator pod that passes helm test again', async (ctx) => {
  const before = (await operatorPods(ctx)).map((p) => p.metadata!.name!);
  helm(['upgrade', ctx.release, CHART, '--namespace', ctx.ns, ...ctx.sets, '--set', 'operator.workers=2', '--wait', '--timeout', '6m']);
  const pod = await eventually('the old pod replaced by one with TRESOR_WORKERS=2', async () => {
    const pods = await operatorPods(ctx);
    const fresh = pods.filter((p) => !before.includes(p.metadata!.name!) && p.status?.containerStatuses?.[0]?.state?.running);
    return pods.length === 1 && fresh.length === 1 ? fresh[0] : undefined;
  }, 180_000);
  assert.is(pod.spec?.containers[0]?.env?.find((e) => e.name === 'TRESOR_WORKERS')?.value, '2');
  await helmTest(ctx);
  assert.is((await apps.readNamespacedDeployment({ namespace: ctx.ns, name: `${ctx.release}-tresor` })).metadata?.annotations?.['meta.helm.sh/release-name'], ctx.release);
});

h('helm uninstall leaves nothing of the release behind', async (ctx) => {
  helm(['uninstall', ctx.release, '--namespace', ctx.ns, '--wait', '--timeout', '3m']);
  const label = `app.kubernetes.io/instance=${ctx.release}`;
  const kinds = 'all,configmaps,secrets,serviceaccounts,roles,rolebindings,networkpolicies,poddisruptionbudgets,leases';
  await eventually('every object of the release gone', async () => {
    const ns = kubectl(['get', kinds, '-n', ctx.ns, '-l', label, '-o', 'name']);
    const cluster = kubectl(['get', 'clusterroles,clusterrolebindings', '-l', label, '-o', 'name']);
    if (ns.code !== 0 || cluster.code !== 0) throw new Error(ns.stderr + cluster.stderr);
    return ns.stdout.trim() === '' && cluster.stdout.trim() === '' ? true : undefined;
  }, 120_000);
  const left = kubectl(['get', 'pods,replicasets', '-n', ctx.ns, '-o', 'name']).stdout.trim();
  assert.is(left, '', 'no pods or replica sets left');
  ctx.release = '';
});

t.run();
