// Restores when the operator crashes, end to end with the operator as a real process: SIGKILL it while
// the restore pods run; the restarted operator (same DBOS executor) resumes the restore's workflow,
// adopts the PVCs and pods it had created instead of making new ones, and the new VM's disks hold the
// backup-time bytes. Nothing is left behind.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { VirtualMachineRestoreObject } from '../../operator/src/api/types.ts';
import { eventually, uniqueSuffix } from '../harness.ts';
import { backup, core, createVm, custom, type Ctx, diskFile, KV, operatorEnv, setupEnv, sha, teardownEnv, TRESOR, waitRunning, writeAt } from './backup-env.ts';
import { killAll, kill9, type Operator, startOperator, stop } from './operator-process.ts';

const SIZE = 32 * 1024 * 1024;
const state = { op: undefined as Operator | undefined, executor: '' };
const t = suite<Ctx>('restores survive operator crashes (SIGKILL while restore pods run)');

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('restore-faults'));
  state.executor = `rfaults-${uniqueSuffix()}`;
  state.op = await startOperator(operatorEnv(ctx, state.executor));
});

t.after(async (ctx) => {
  await stop(state.op);
  killAll();
  await teardownEnv(ctx);
});

const readRestore = async (ctx: Ctx, name: string): Promise<VirtualMachineRestoreObject> =>
  (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name })) as VirtualMachineRestoreObject;

async function restorePods(ctx: Ctx, restore: string): Promise<Array<{ name: string; uid: string }>> {
  const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: `tresor.io/restore=${restore},tresor.io/role=restore` });
  return pods.items.map((p) => ({ name: p.metadata!.name!, uid: p.metadata!.uid! }));
}

t('SIGKILL while the restore pods run: the restarted operator adopts them and the restore succeeds byte for byte', async (ctx) => {
  await createVm(ctx, 'db', { disks: [{ name: 'root', mode: 'Filesystem', size: SIZE }, { name: 'data', mode: 'Block', size: SIZE }] });
  await waitRunning(ctx, 'db');
  const files = { root: await diskFile(ctx, 'db-root', 'Filesystem'), data: await diskFile(ctx, 'db-data', 'Block') };
  for (const f of Object.values(files)) writeAt(f, 0, randomBytes(SIZE));
  const before = { root: sha(readFileSync(files.root)), data: sha(readFileSync(files.data)) };
  const j = await backup(ctx, 'db-1', { vmName: 'db', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));

  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore', metadata: { name: 'db-back' },
    spec: { recoveryPointRef: { name: j.status!.recoveryPointName! }, target: { newVMName: 'db-back' } },
  } });
  const first = await eventually('both restore pods', async () => {
    const pods = await restorePods(ctx, 'db-back');
    return pods.length === 2 ? pods : undefined;
  }, 120_000);
  await kill9(state.op!);
  const atKill = await readRestore(ctx, 'db-back');
  assert.is(atKill.status?.phase, 'Running', 'the operator died in the middle of the restore');

  // Every restore pod seen from now on must be one the first operator created (same UID): adopted, not re-created.
  const seen = new Map<string, string>();
  let watching = true;
  const watch = (async (): Promise<void> => {
    while (watching) {
      for (const p of await restorePods(ctx, 'db-back').catch(() => [])) seen.set(p.uid, p.name);
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  state.op = await startOperator(operatorEnv(ctx, state.executor));
  const r = await eventually('the restore to finish', async () => {
    const x = await readRestore(ctx, 'db-back');
    return x.status?.phase === 'Succeeded' || x.status?.phase === 'Failed' ? x : undefined;
  }, 240_000);
  watching = false;
  await watch;
  assert.is(r.status?.phase, 'Succeeded', JSON.stringify(r.status));
  const firstUids = new Set(first.map((p) => p.uid));
  assert.equal([...seen].filter(([uid]) => !firstUids.has(uid)).map(([, name]) => name), [], 'no restore pod was re-created');

  const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: ctx.ns, labelSelector: 'tresor.io/restore=db-back' });
  assert.equal(pvcs.items.map((p) => p.metadata!.name).sort(), ['db-back-data', 'db-back-root'], 'one PVC per disk, adopted');
  for (const [disk, mode] of [['root', 'Filesystem'], ['data', 'Block']] as const) {
    assert.is(sha(readFileSync(await diskFile(ctx, `db-back-${disk}`, mode))), before[disk], `${disk} restored byte for byte`);
  }
  const vm = await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ctx.ns, name: 'db-back' });
  assert.ok(vm, 'the VM was created once');
  assert.equal(first.map((p) => p.name).sort(), ['db-back-data-restore-0', 'db-back-root-restore-0']);
  await eventually('restore pods gone', async () => ((await restorePods(ctx, 'db-back')).length === 0 ? true : undefined), 60_000);
});

t.run();
