// The local node agent as KubeVirt: a running VirtualMachine gets a VMI that reports Running on the
// agent's node with AgentConnected and guestOSInfo as its simulated guest says, and KubeVirt's
// freeze/unfreeze subresources answer through the real apiserver's aggregation layer: a freeze shows
// as fsFreezeStatus "frozen", thaws on unfreeze or at its deadline, and fails as the guest is told to.
import https from 'node:https';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeRest, type ApiError } from '../../hack/node-agent/rest.ts';
import { startAgentProcess, type AgentProcess } from '../../hack/node-agent/testing.ts';
import { createNamespace, deleteNamespace, eventually, kubeConfig, uniqueSuffix } from '../harness.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const rest = makeRest(kc);
const KV = { group: 'kubevirt.io', version: 'v1' };
const t = suite<{ ns: string; agent: AgentProcess | undefined }>('node agent: kubevirt', { ns: '', agent: undefined });

interface Vmi {
  metadata: { annotations?: Record<string, string> };
  status?: { phase?: string; nodeName?: string; fsFreezeStatus?: string; conditions?: Array<{ type: string; status: string }>; guestOSInfo?: { id?: string }; volumeStatus?: Array<{ name: string; target: string }> };
}

t.before(async (ctx) => {
  ctx.agent = await startAgentProcess({ nodeName: `na-kv-${uniqueSuffix()}` });
  ctx.ns = await createNamespace('node-agent-kubevirt');
});

t.after(async (ctx) => {
  if (ctx.ns) {
    await deleteNamespace(ctx.ns);
    await eventually('the namespace to be gone', async () => core.readNamespace({ name: ctx.ns }).then(() => undefined, () => true), 60_000).catch(() => undefined);
  }
  await ctx.agent?.stop();
});

async function createVm(ns: string, node: string, name: string, guest?: Record<string, unknown>): Promise<void> {
  await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: {
    metadata: { name: `${name}-root` }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Mi' } } },
  } });
  await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: {
    metadata: { name: `${name}-data` }, spec: { accessModes: ['ReadWriteOnce'], volumeMode: 'Block', resources: { requests: { storage: '1Mi' } } },
  } });
  await custom.createNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ns, body: {
    apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine',
    metadata: { name, ...(guest ? { annotations: { 'hack.tresor.io/guest': JSON.stringify(guest) } } : {}) },
    spec: { runStrategy: 'Always', template: { spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      domain: { devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }, { name: 'data', disk: { bus: 'virtio' } }] } },
      volumes: [{ name: 'root', persistentVolumeClaim: { claimName: `${name}-root` } }, { name: 'data', persistentVolumeClaim: { claimName: `${name}-data` } }],
    } } },
  } });
}

async function vmi(ns: string, name: string): Promise<Vmi> {
  return (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachineinstances', namespace: ns, name })) as Vmi;
}

async function running(ns: string, name: string): Promise<Vmi> {
  return eventually(`VMI ${name} to run`, async () => {
    const v = await vmi(ns, name).catch(() => undefined);
    return v?.status?.phase === 'Running' ? v : undefined;
  }, 30_000);
}

/** PUTs a subresource through the apiserver; returns the HTTP status code (200 on success). */
async function subresource(ns: string, name: string, action: 'freeze' | 'unfreeze', body: unknown = {}): Promise<{ code: number; message: string }> {
  try {
    await rest.put(`/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/${name}/${action}`, body);
    return { code: 200, message: '' };
  } catch (err) {
    return { code: (err as ApiError).code ?? 0, message: (err as Error).message };
  }
}

const cond = (v: Vmi, type: string): string | undefined => v.status?.conditions?.find((c) => c.type === type)?.status;

t('a running VM gets a VMI on the agent\'s node: Running, AgentConnected, guestOSInfo, volumes, disk.img', async ({ ns, agent }) => {
  await createVm(ns, agent!.nodeName, 'linux');
  const v = await running(ns, 'linux');
  assert.is(v.status?.nodeName, agent!.nodeName);
  assert.is(cond(v, 'Ready'), 'True');
  assert.is(cond(v, 'AgentConnected'), 'True');
  assert.is(v.status?.guestOSInfo?.id, 'linux');
  assert.equal(v.status?.volumeStatus?.map((s) => [s.name, s.target]), [['root', 'vda'], ['data', 'vdb']]);
  const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'linux-root' });
  const pv = await core.readPersistentVolume({ name: pvc.spec!.volumeName! });
  const img = join(pv.spec!.csi!.volumeHandle, 'disk.img');
  assert.ok(existsSync(img), 'the filesystem PVC holds disk.img');
  assert.is(statSync(img).size, 2 * 2 ** 20);
  await eventually('the VM to say Running', async () => {
    const vm = (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ns, name: 'linux' })) as { status?: { printableStatus?: string; ready?: boolean } };
    return vm.status?.printableStatus === 'Running' && vm.status.ready === true ? true : undefined;
  }, 10_000);
});

t('freeze and unfreeze through the aggregated API: fsFreezeStatus follows, the freeze log records it', async ({ ns }) => {
  const f = await subresource(ns, 'linux', 'freeze', { unfreezeTimeout: '1m' });
  assert.is(f.code, 200, f.message);
  assert.is((await vmi(ns, 'linux')).status?.fsFreezeStatus, 'frozen', 'the answer comes once the VMI shows the freeze');
  const u = await subresource(ns, 'linux', 'unfreeze');
  assert.is(u.code, 200, u.message);
  const v = await eventually('fsFreezeStatus cleared and the log written', async () => {
    const got = await vmi(ns, 'linux');
    return !got.status?.fsFreezeStatus && got.metadata.annotations?.['hack.tresor.io/freeze-log']?.includes('unfreeze') ? got : undefined;
  }, 10_000);
  const log = JSON.parse(v.metadata.annotations!['hack.tresor.io/freeze-log']!) as Array<{ thawedBy?: string }>;
  assert.is(log.length, 1);
  assert.is(log[0]!.thawedBy, 'unfreeze');
});

t('a frozen guest thaws by itself at the unfreezeTimeout deadline', async ({ ns }) => {
  const f = await subresource(ns, 'linux', 'freeze', { unfreezeTimeout: '2s' });
  assert.is(f.code, 200, f.message);
  await eventually('fsFreezeStatus frozen', async () => ((await vmi(ns, 'linux')).status?.fsFreezeStatus === 'frozen' ? true : undefined), 5_000);
  const v = await eventually('the deadline to thaw the guest', async () => {
    const got = await vmi(ns, 'linux');
    return !got.status?.fsFreezeStatus && got.metadata.annotations?.['hack.tresor.io/freeze-log']?.includes('timeout') ? got : undefined;
  }, 10_000);
  const log = JSON.parse(v.metadata.annotations!['hack.tresor.io/freeze-log']!) as Array<{ thawedBy?: string }>;
  assert.is(log.at(-1)!.thawedBy, 'timeout');
});

t('a freeze without unfreezeTimeout is refused (400)', async ({ ns }) => {
  assert.is((await subresource(ns, 'linux', 'freeze', {})).code, 400);
});

t('a guest whose freeze fails answers 500 and stays thawed', async ({ ns, agent }) => {
  await createVm(ns, agent!.nodeName, 'broken', { freeze: 'fail' });
  await running(ns, 'broken');
  const f = await subresource(ns, 'broken', 'freeze', { unfreezeTimeout: '1m' });
  assert.is(f.code, 500);
  assert.match(f.message, /fsfreeze/);
  assert.is.not((await vmi(ns, 'broken')).status?.fsFreezeStatus, 'frozen');
});

t('a VM without a guest agent: AgentConnected False and a freeze is refused with 409', async ({ ns, agent }) => {
  await createVm(ns, agent!.nodeName, 'noagent', { agent: false });
  const v = await running(ns, 'noagent');
  assert.is(cond(v, 'AgentConnected'), 'False');
  const f = await subresource(ns, 'noagent', 'freeze', { unfreezeTimeout: '1m' });
  assert.is(f.code, 409);
  assert.match(f.message, /guest agent/);
});

t('a Windows guest reports mswindows; a slow thaw makes unfreeze take that long', async ({ ns, agent }) => {
  await createVm(ns, agent!.nodeName, 'win', { os: 'mswindows', thawDelaySeconds: 2 });
  const v = await eventually('guestOSInfo', async () => {
    const got = await running(ns, 'win');
    return got.status?.guestOSInfo?.id ? got : undefined;
  }, 10_000);
  assert.is(v.status?.guestOSInfo?.id, 'mswindows');
  assert.is((await subresource(ns, 'win', 'freeze', { unfreezeTimeout: '1m' })).code, 200);
  const start = Date.now();
  assert.is((await subresource(ns, 'win', 'unfreeze')).code, 200);
  assert.ok(Date.now() - start >= 1900, `unfreeze took ${Date.now() - start} ms`);
});

t('the guest can be changed on a running VM (annotation read afresh)', async ({ ns }) => {
  await custom.patchNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ns, name: 'linux',
    body: [{ op: 'add', path: '/metadata/annotations', value: { 'hack.tresor.io/guest': '{"agent":false}' } }] });
  await eventually('AgentConnected False', async () => (cond(await vmi(ns, 'linux'), 'AgentConnected') === 'False' ? true : undefined), 10_000);
  assert.is((await subresource(ns, 'linux', 'freeze', { unfreezeTimeout: '1m' })).code, 409);
});

t('stopping a VM deletes its VMI; freezing a missing VMI is 404', async ({ ns }) => {
  await custom.patchNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ns, name: 'broken',
    body: [{ op: 'replace', path: '/spec/runStrategy', value: 'Halted' }] });
  await eventually('the VMI to be gone', async () => vmi(ns, 'broken').then(() => undefined, () => true), 15_000);
  await eventually('the VM to say Stopped', async () => {
    const vm = (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ns, name: 'broken' })) as { status?: { printableStatus?: string } };
    return vm.status?.printableStatus === 'Stopped' ? true : undefined;
  }, 10_000);
  assert.is((await subresource(ns, 'broken', 'freeze', { unfreezeTimeout: '1m' })).code, 404);
});

t('the agent\'s server refuses callers without the apiserver\'s front-proxy client certificate', async () => {
  const svc = await rest.get<{ spec: { service: { port: number } } }>('/apis/apiregistration.k8s.io/v1/apiservices/v1.subresources.kubevirt.io');
  const code = await new Promise<number>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: svc.spec.service.port, method: 'GET', path: '/apis/subresources.kubevirt.io/v1', rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.is(code, 401);
});

t('a second agent takes the aggregated API over, and a live agent takes it back when the second stops', async ({ ns, agent }) => {
  const port = async (): Promise<number | undefined> =>
    (await rest.get<{ spec: { service: { port: number } } }>('/apis/apiregistration.k8s.io/v1/apiservices/v1.subresources.kubevirt.io').catch(() => undefined))?.spec.service.port;
  const first = await port();
  await createVm(ns, agent!.nodeName, 'handover');
  await running(ns, 'handover');
  const second = await startAgentProcess({ nodeName: `na-kv2-${uniqueSuffix()}` });
  const secondPort = await port();
  try {
    assert.is.not(secondPort, first, 'the newest agent serves the API');
    // The second agent serves freezes of VMIs it does not run: it reads them from the API like virt-api.
    assert.is((await subresource(ns, 'handover', 'freeze', { unfreezeTimeout: '1m' })).code, 200);
    assert.is((await vmi(ns, 'handover')).status?.fsFreezeStatus, 'frozen', 'the serving agent writes the freeze state');
    assert.is((await subresource(ns, 'handover', 'unfreeze')).code, 200);
    assert.not.ok((await vmi(ns, 'handover')).status?.fsFreezeStatus);
  } finally {
    await second.stop();
  }
  // Usually the first agent; in a shared cluster another engineer's agent may be quicker.
  await eventually('a live agent to serve the API again', async () => {
    const p = await port();
    return p !== undefined && p !== secondPort ? true : undefined;
  }, 20_000);
  await eventually('a freeze to work again', async () => ((await subresource(ns, 'handover', 'freeze', { unfreezeTimeout: '1m' })).code === 200 ? true : undefined), 20_000);
  assert.is((await subresource(ns, 'handover', 'unfreeze')).code, 200);
});

t('virtualmachines/stop, start and restart through the aggregated API', async ({ ns }) => {
  const vmPath = `/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachines/handover`;
  const put = async (action: string): Promise<number> => rest.put(`${vmPath}/${action}`, {}).then(() => 200, (e: ApiError) => e.code);
  const before = (await running(ns, 'handover')) as Vmi & { metadata: { uid?: string } };
  assert.is(await put('start'), 409, 'already running');
  assert.is(await put('restart'), 200);
  await eventually('a new VMI to run', async () => {
    const v = (await vmi(ns, 'handover').catch(() => undefined)) as (Vmi & { metadata: { uid?: string } }) | undefined;
    return v?.status?.phase === 'Running' && v.metadata.uid !== before.metadata.uid ? true : undefined;
  }, 20_000);
  assert.is(await put('stop'), 200);
  await eventually('the VMI to be gone', async () => vmi(ns, 'handover').then(() => undefined, () => true), 15_000);
  const vm = (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ns, name: 'handover' })) as { spec: { runStrategy?: string } };
  assert.is(vm.spec.runStrategy, 'Halted');
  assert.is(await put('stop'), 409, 'not running');
  assert.is(await put('start'), 200);
  await running(ns, 'handover');
});

t.run();
