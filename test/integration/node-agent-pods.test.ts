// The local node agent as kubelet + scheduler: a pod that selects the agent's node is bound to it, its
// command runs as a local process (env from the downward API and secrets, secret volumes mounted), and
// its status reads as kubelet's would: phase, exit code, termination message; deleting a running pod
// kills its process and removes the pod.
import { spawnSync } from 'node:child_process';
import { BatchV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startAgentProcess, type AgentProcess } from '../../hack/node-agent/testing.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, uniqueSuffix } from '../harness.ts';

const core = kubeConfig().makeApiClient(CoreV1Api);
const batch = kubeConfig().makeApiClient(BatchV1Api);
const NO_API = ['--no-aggregated-api'];
const t = suite<{ ns: string; agent: AgentProcess | undefined }>('node agent: pods', { ns: '', agent: undefined });

t.before(async (ctx) => {
  // No aggregated API: these agents need none, and taking it over (and deleting it on stop) would disturb
  // a suite running at the same time that freezes VMs.
  ctx.agent = await startAgentProcess({ nodeName: `na-pods-${uniqueSuffix()}`, args: NO_API });
  ctx.ns = await createNamespace('node-agent-pods');
});

t.after(async (ctx) => {
  if (ctx.ns) await deleteNamespace(ctx.ns);
  await ctx.agent?.stop();
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
  }, 60_000);
}

t('a pod runs on the agent\'s node and reports Succeeded, exit code 0 and its termination message', async ({ ns, agent }) => {
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'creds' }, stringData: { user: 'alice', file: 'from-a-volume' } } });
  await core.createNamespacedPod({ namespace: ns, body: pod('ok', agent!.nodeName, {
    containers: [{
      name: 'main', image: 'busybox',
      command: ['sh', '-c', 'printf "%s %s %s %s" "$MY_NAME" "$MY_NS" "$USER_NAME" "$(cat /etc/creds/file)" > /dev/termination-log'],
      env: [
        { name: 'MY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'MY_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'USER_NAME', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } },
      ],
      volumeMounts: [{ name: 'creds', mountPath: '/etc/creds' }],
    }],
    volumes: [{ name: 'creds', secret: { secretName: 'creds' } }],
  }) });
  const p = await finished(ns, 'ok');
  assert.is(p.spec?.nodeName, agent!.nodeName, 'bound to the agent\'s node');
  assert.is(p.status?.phase, 'Succeeded');
  const term = p.status?.containerStatuses?.[0]?.state?.terminated;
  assert.is(term?.exitCode, 0);
  assert.is(term?.reason, 'Completed');
  assert.is(term?.message, `ok ${ns} alice from-a-volume`);
  assert.ok(term?.startedAt && term.finishedAt, 'start and finish times reported');
  await eventually('Scheduled and Started events', async () => {
    const evs = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=ok' });
    const reasons = new Set(evs.items.map((e) => e.reason));
    return reasons.has('Scheduled') && reasons.has('Started') ? true : undefined;
  }, 10_000);
});

t('a failing pod reports Failed with its exit code; FallbackToLogsOnError gives the log tail', async ({ ns, agent }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('fails', agent!.nodeName, {
    containers: [{
      name: 'main', image: 'busybox', terminationMessagePolicy: 'FallbackToLogsOnError',
      command: ['sh', '-c', 'echo first line; echo something broke >&2; exit 7'],
    }],
  }) });
  const p = await finished(ns, 'fails');
  assert.is(p.status?.phase, 'Failed');
  const term = p.status?.containerStatuses?.[0]?.state?.terminated;
  assert.is(term?.exitCode, 7);
  assert.is(term?.reason, 'Error');
  assert.match(term?.message ?? '', /something broke/);
});

t('a termination message is bounded to 4096 bytes', async ({ ns, agent }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('long', agent!.nodeName, {
    containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'head -c 10000 /dev/zero | tr "\\0" x > /dev/termination-log'] }],
  }) });
  const p = await finished(ns, 'long');
  assert.is(p.status?.containerStatuses?.[0]?.state?.terminated?.message?.length, 4096);
});

t('init containers run first, in order, sharing an emptyDir with the app container', async ({ ns, agent }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('init', agent!.nodeName, {
    initContainers: [
      { name: 'one', image: 'busybox', command: ['sh', '-c', 'echo one > /work-dir/log'], volumeMounts: [{ name: 'w', mountPath: '/work-dir' }] },
      { name: 'two', image: 'busybox', command: ['sh', '-c', 'echo two >> /work-dir/log'], volumeMounts: [{ name: 'w', mountPath: '/work-dir' }] },
    ],
    containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'tr "\\n" " " < /work-dir/log > /dev/termination-log'], volumeMounts: [{ name: 'w', mountPath: '/work-dir' }] }],
    volumes: [{ name: 'w', emptyDir: {} }],
  }) });
  const p = await finished(ns, 'init');
  assert.is(p.status?.phase, 'Succeeded');
  assert.is(p.status?.containerStatuses?.[0]?.state?.terminated?.message, 'one two ');
  assert.equal(p.status?.initContainerStatuses?.map((c) => c.state?.terminated?.exitCode), [0, 0]);
});

t('restartPolicy OnFailure runs a failing container again', async ({ ns, agent }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('retry', agent!.nodeName, {
    restartPolicy: 'OnFailure',
    containers: [{ name: 'main', image: 'busybox', command: ['sh', '-c', 'f=/tmp/na-retry-$MARK; if [ -e $f ]; then rm $f; exit 0; fi; touch $f; exit 1'],
      env: [{ name: 'MARK', value: uniqueSuffix() }] }],
  }) });
  const p = await finished(ns, 'retry');
  assert.is(p.status?.phase, 'Succeeded');
  assert.is(p.status?.containerStatuses?.[0]?.restartCount, 1);
});

t('a pod reaches the API server in-cluster with its ServiceAccount token', async ({ ns, agent }) => {
  const script = [
    "const k = await import('@kubernetes/client-node');",
    'const kc = new k.KubeConfig(); kc.loadFromCluster();',
    'const api = kc.makeApiClient(k.CoreV1Api);',
    "let out = 'allowed';",
    'try { await api.listNamespacedSecret({ namespace: process.env.NS }); } catch (e) { out = String(e.body ?? e.message); }',
    "(await import('node:fs')).writeFileSync('/dev/termination-log', out);",
  ].join('\n');
  await core.createNamespacedPod({ namespace: ns, body: pod('incluster', agent!.nodeName, {
    containers: [{ name: 'main', image: 'tresor:dev', command: ['node', '--input-type=module', '-e', script],
      env: [{ name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }] }],
  }) });
  const p = await finished(ns, 'incluster');
  const msg = p.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '';
  // The default ServiceAccount may not list secrets: the answer names it, so the token was the pod's own.
  assert.match(msg, `system:serviceaccount:${ns}:default`);
});

t('image tresor:* runs the tresor CLI from the repository', async ({ ns, agent }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('cli', agent!.nodeName, {
    containers: [{
      name: 'main', image: 'tresor:dev',
      command: ['sh', '-c', 'tresor vault init --vault file:///var/lib/vault --key-file /var/lib/keys/key --json > /dev/termination-log'],
      volumeMounts: [{ name: 'vault', mountPath: '/var/lib/vault' }, { name: 'keys', mountPath: '/var/lib/keys' }],
    }],
    volumes: [{ name: 'vault', emptyDir: {} }, { name: 'keys', emptyDir: {} }],
  }) });
  const p = await finished(ns, 'cli');
  const term = p.status?.containerStatuses?.[0]?.state?.terminated;
  assert.is(term?.exitCode, 0, term?.message);
  assert.is((JSON.parse(term?.message ?? '{}') as { keyCreated?: boolean }).keyCreated, true);
});

t('a Job\'s pod runs here and kube-controller-manager\'s job controller marks the Job Complete', async ({ ns, agent }) => {
  await batch.createNamespacedJob({ namespace: ns, body: {
    metadata: { name: 'job' },
    spec: { backoffLimit: 0, template: pod('unused', agent!.nodeName, { containers: [{ name: 'main', image: 'busybox', command: ['true'] }] }) as never },
  } });
  await eventually('the Job to complete', async () => {
    const j = await batch.readNamespacedJob({ namespace: ns, name: 'job' });
    return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? true : undefined;
  }, 60_000);
});

t('activeDeadlineSeconds: the containers are killed and the pod fails with DeadlineExceeded', async ({ ns, agent }) => {
  await core.createNamespacedPod({ namespace: ns, body: pod('deadline', agent!.nodeName, {
    activeDeadlineSeconds: 2,
    containers: [{ name: 'main', image: 'busybox', command: ['sleep', '60'] }],
  }) });
  const started = Date.now();
  const p = await finished(ns, 'deadline');
  assert.is(p.status?.phase, 'Failed');
  assert.is(p.status?.reason, 'DeadlineExceeded');
  assert.ok(Date.now() - started < 30_000, 'well before the command would have ended');
  assert.ok(p.status?.containerStatuses?.[0]?.state?.terminated, 'the container was stopped');
});

t('deleting a running pod kills its process and the pod goes away', async ({ ns, agent }) => {
  const marker = `${1000 + Math.floor(Math.random() * 1000)}.${Date.now() % 100000}`;
  await core.createNamespacedPod({ namespace: ns, body: pod('sleeper', agent!.nodeName, {
    terminationGracePeriodSeconds: 2,
    containers: [{ name: 'main', image: 'busybox', command: ['sleep', marker] }],
  }) });
  const running = (): boolean => spawnSync('pgrep', ['-f', `sleep ${marker}`]).status === 0;
  await eventually('the pod to run', async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: 'sleeper' });
    return p.status?.phase === 'Running' && running() ? true : undefined;
  }, 30_000);
  await core.deleteNamespacedPod({ namespace: ns, name: 'sleeper' });
  await eventually('the pod object to be removed', async () => {
    try {
      await core.readNamespacedPod({ namespace: ns, name: 'sleeper' });
      return undefined;
    } catch (err) {
      return (err as { code?: number }).code === 404 ? true : undefined;
    }
  }, 30_000);
  assert.not.ok(running(), 'the process is gone');
});

t('an agent that crashes takes its pods\' processes with it; restarted, it reports them Failed (137)', async ({ ns }) => {
  const nodeName = `na-crash-${uniqueSuffix()}`;
  const marker = `${2000 + Math.floor(Math.random() * 1000)}.${Date.now() % 100000}`;
  const running = (): boolean => spawnSync('pgrep', ['-f', `sleep ${marker}`]).status === 0;
  const first = await startAgentProcess({ nodeName, args: NO_API });
  try {
    await core.createNamespacedPod({ namespace: ns, body: pod('orphan', nodeName, { containers: [{ name: 'main', image: 'busybox', command: ['sleep', marker] }] }) });
    await eventually('the pod to run', async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'orphan' });
      return p.status?.phase === 'Running' && running() ? true : undefined;
    }, 30_000);
  } finally {
    await first.kill();
  }
  await eventually('the process to die with the agent', async () => (running() ? undefined : true), 10_000);
  const second = await startAgentProcess({ nodeName, args: NO_API });
  try {
    const p = await finished(ns, 'orphan');
    assert.is(p.status?.phase, 'Failed');
    const term = p.status?.containerStatuses?.[0]?.state?.terminated;
    assert.is(term?.exitCode, 137);
    assert.match(term?.message ?? '', 'could not be located');
  } finally {
    await second.stop();
  }
});

t.run();
