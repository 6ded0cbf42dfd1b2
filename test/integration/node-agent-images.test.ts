// The local node agent runs a container from its image, as kubelet would: the operator image built by
// `npm run image` (hack/image) is unpacked from its OCI layout and the container sees only the image's
// root (the checkout is not there), runs as the image's user 65532 with a read-only root, finds the
// image's `tresor` command on the image's PATH, and reaches the API server with in-cluster config from the
// projected ServiceAccount token and CA. An image the node does not have waits in ErrImagePull.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildImage, cacheDir, IMAGE_REPOSITORY } from '../../hack/image/build.ts';
import { startAgentProcess, type AgentProcess } from '../../hack/node-agent/testing.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, uniqueSuffix } from '../harness.ts';

const core = kubeConfig().makeApiClient(CoreV1Api);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const t = suite<{ ns: string; agent: AgentProcess | undefined; out: string; digest: string }>('node agent: images', { ns: '', agent: undefined, out: '', digest: '' });

t.before(async (ctx) => {
  ctx.out = mkdtempSync(join(tmpdir(), 'tresor-image-'));
  ctx.digest = buildImage({ repo, out: ctx.out, cache: cacheDir() }).manifestDigest;
  ctx.agent = await startAgentProcess({ nodeName: `na-img-${uniqueSuffix()}`, args: ['--no-aggregated-api', '--image-layouts', join(ctx.out, 'oci')] });
  ctx.ns = await createNamespace('node-agent-images');
});

t.after(async (ctx) => {
  if (ctx.ns) await deleteNamespace(ctx.ns);
  await ctx.agent?.stop();
  if (ctx.out) rmSync(ctx.out, { recursive: true, force: true });
});

function pod(name: string, node: string, spec: Partial<NonNullable<V1Pod['spec']>>): V1Pod {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name },
    spec: { restartPolicy: 'Never', nodeSelector: { 'kubernetes.io/hostname': node }, containers: [], ...spec },
  };
}

async function finished(ns: string, name: string): Promise<V1Pod> {
  return eventually(`pod ${name} to finish`, async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name });
    return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
  }, 120_000);
}

// Runs inside the container: what a process there can see and do, as one JSON line.
const PROBE = `
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
const kc = new k8s.KubeConfig();
kc.loadFromCluster();
const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
let rootWrite = 'allowed';
try { writeFileSync('/app/probe', 'x'); } catch (e) { rootWrite = e.code; }
const sbom = JSON.parse(readFileSync('/app/sbom.cdx.json', 'utf8'));
writeFileSync('/dev/termination-log', JSON.stringify({
  uid: process.getuid(), gid: process.getgid(), cwd: process.cwd(), node: process.version,
  checkout: existsSync(process.env.CHECKOUT + '/package.json'), sbom: sbom.bomFormat, rootWrite,
  user: review.status?.userInfo?.username, path: process.env.PATH,
}));
`;

t('a pod of the operator image runs from the image: uid 65532, read-only root, in-cluster config', async ({ ns, agent, digest }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('probe', agent!.nodeName, {
    securityContext: { runAsNonRoot: true },
    containers: [{
      name: 'main', image: `${IMAGE_REPOSITORY}@${digest}`, terminationMessagePolicy: 'FallbackToLogsOnError',
      args: ['node', '--input-type=module', '-e', PROBE],
      env: [{ name: 'CHECKOUT', value: repo }],
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
    }],
  }) });
  const p = await finished(ns, 'probe');
  const term = p.status?.containerStatuses?.[0]?.state?.terminated;
  assert.is(p.status?.phase, 'Succeeded', term?.message);
  assert.is(p.status?.containerStatuses?.[0]?.imageID, digest, 'the image ID is the manifest digest');
  const seen = JSON.parse(term?.message ?? '{}') as Record<string, unknown>;
  assert.is(seen.uid, 65532, 'the image\'s user');
  assert.is(seen.gid, 65532);
  assert.is(seen.cwd, '/app', 'the image\'s working directory');
  assert.match(String(seen.node), /^v24\./);
  assert.is(seen.checkout, false, 'the checkout is not visible: the code ran from the image');
  assert.is(seen.sbom, 'CycloneDX', 'a file only the image holds');
  assert.is(seen.rootWrite, 'EROFS', 'readOnlyRootFilesystem');
  assert.is(seen.user, `system:serviceaccount:${ns}:default`, 'in-cluster config from the projected token and CA');
  assert.is(seen.path, '/usr/local/bin:/usr/bin:/bin', 'the image\'s PATH');
});

t('the image\'s tresor command runs as the operator\'s pods run it (command tresor)', async ({ ns, agent, digest }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('cli', agent!.nodeName, {
    containers: [{ name: 'main', image: `${IMAGE_REPOSITORY}@${digest}`, command: ['tresor'], args: ['no-such-group'], terminationMessagePolicy: 'FallbackToLogsOnError' }],
  }) });
  const p = await finished(ns, 'cli');
  const term = p.status?.containerStatuses?.[0]?.state?.terminated;
  assert.is(term?.exitCode, 2, term?.message);
  assert.match(term?.message ?? '', 'usage: tresor');
});

t('an image the node does not have: the container waits in ErrImagePull and the pod stays Pending', async ({ ns, agent }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('missing', agent!.nodeName, {
    containers: [{ name: 'main', image: `${IMAGE_REPOSITORY}@sha256:${'0'.repeat(64)}` }],
  }) });
  const p = await eventually('ErrImagePull', async () => {
    const got = await core.readNamespacedPod({ namespace: ns, name: 'missing' });
    return /ErrImagePull|ImagePullBackOff/.test(got.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '') ? got : undefined;
  }, 60_000);
  assert.is(p.status?.phase, 'Pending');
  assert.match(p.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', 'not found in the node\'s image layouts');
});

t.run();
