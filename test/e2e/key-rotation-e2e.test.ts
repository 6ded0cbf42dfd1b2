// Key rotation through the operator, with nothing faked (apiserver, Postgres, S3 server, node agent, the
// operator's transfer and restore pods): back up a VM, rotate the data key, back up again, add a new master
// key and switch the vault's key Secret to it, back up a third time, retire the old master key, then restore
// every recovery point with VirtualMachineRestores: each disk comes back byte for byte (sha256).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { VirtualMachineRestoreObject } from '../../operator/src/api/types.ts';
import { loadConfig } from '../../operator/src/operator/config.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator/run.ts';
import { eventually } from '../harness.ts';
import { backup, core, createVm, custom, type Ctx, diskFile, kc, operatorEnv, setupEnv, sha, teardownEnv, TRESOR, tresorCli, waitRunning, writeAt } from './backup-env.ts';

const run = { stop: new AbortController(), operator: undefined as RunningOperator | undefined };
const t = suite<Ctx>('key rotation end to end (operator, node agent, apiserver, Postgres, S3)');
const SIZE = 4 * 1024 * 1024;
/** Each recovery point and the disk's sha256 when it was taken. */
const points: { rp: string; sha: string }[] = [];

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('keyrot-e2e'));
  run.operator = await startOperator(loadConfig(operatorEnv(ctx, `e2e-${ctx.node}`)), run.stop.signal, kc);
});

t.after(async () => {
  run.stop.abort();
  await run.operator?.exited.catch(() => undefined);
});
t.after(async (ctx) => teardownEnv(ctx));

function cli(...args: string[]): string {
  const r = tresorCli(args);
  assert.is(r.code, 0, `tresor ${args.slice(0, 2).join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function backupPoint(ctx: Ctx, job: string, change: boolean): Promise<void> {
  const file = await diskFile(ctx, 'vm-data', 'Block');
  if (change) writeAt(file, 1024 * 1024, randomBytes(256 * 1024));
  const want = sha(readFileSync(file));
  const j = await backup(ctx, job, { vmName: 'vm', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  points.push({ rp: j.status?.recoveryPointName ?? '', sha: want });
}

async function restoreTo(ctx: Ctx, name: string, rp: string): Promise<string> {
  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore', metadata: { name }, spec: { recoveryPointRef: { name: rp }, target: { newVMName: name } },
  } });
  const r = await eventually(`restore ${name} to finish`, async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name })) as VirtualMachineRestoreObject;
    return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
  }, 240_000);
  assert.is(r.status?.phase, 'Succeeded', JSON.stringify(r.status?.conditions));
  return sha(readFileSync(await diskFile(ctx, `${name}-data`, 'Block')));
}

t('back up, rotate the data key, back up, add a master key and switch the Secret, back up, retire the old key', async (ctx) => {
  await createVm(ctx, 'vm', { disks: [{ name: 'data', mode: 'Block', size: SIZE }] });
  await waitRunning(ctx, 'vm');
  writeAt(await diskFile(ctx, 'vm-data', 'Block'), 0, randomBytes(SIZE));
  await backupPoint(ctx, 'kr-1', false);

  const rotated = JSON.parse(cli('vault', 'rotate-key', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile, '--json')) as { currentDataKey: string };
  await backupPoint(ctx, 'kr-2', true);

  const newKey = join(ctx.tmp, 'new.key');
  const added = JSON.parse(cli('vault', 'rotate-key', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile, '--new-key-file', newKey, '--json')) as { currentDataKey: string; masterKeys: string[] };
  assert.is(added.masterKeys.length, 2);
  assert.is.not(added.currentDataKey, rotated.currentDataKey);
  // Switch the Secret's value; the reference in the BackupVault stays as it is (spec.encryption is immutable).
  await core.replaceNamespacedSecret({ namespace: ctx.ns, name: 'vault-key', body: { metadata: { name: 'vault-key' }, stringData: { key: readFileSync(newKey, 'utf8').trim() } } });
  await backupPoint(ctx, 'kr-3', true);

  cli('vault', 'retire-key', '--vault', ctx.vaultUrl, '--key-file', newKey, '--retire-key-file', ctx.keyFile);
  const old = tresorCli(['vault', 'check', '--vault', ctx.vaultUrl, '--key-file', ctx.keyFile]);
  assert.is(old.code, 1);
  assert.match(old.stderr, /wrong key for vault .*not one of its master keys/);
  const keys = JSON.parse(cli('vault', 'keys', '--vault', ctx.vaultUrl, '--key-file', newKey, '--json')) as { masterKeys: unknown[]; dataKeys: unknown[] };
  assert.equal([keys.masterKeys.length, keys.dataKeys.length], [1, 3]);
  assert.equal(new Set(points.map((p) => p.sha)).size, 3, 'the three points hold three different disk contents');
});

t('after the old master key is retired, the operator restores every point byte for byte with the new key', async (ctx) => {
  for (const [i, p] of points.entries()) {
    assert.is(await restoreTo(ctx, `back-${i + 1}`, p.rp), p.sha, `point ${i + 1} (${p.rp}) restored byte for byte`);
  }
  const verify = tresorCli(['vault', 'verify', '--vault', ctx.vaultUrl, '--key-file', join(ctx.tmp, 'new.key'), '--read-data']);
  assert.is(verify.code, 0, verify.stdout + verify.stderr);
});

t.run();
