// Tenancy end to end against the real apiserver (issue 9): the chart's admission policies and tenant roles
// installed as `helm template` renders them, the VM namespace enforcing Pod Security Admission
// `restricted`, and a tenant "alice" with Kubernetes' `edit` role (which aggregates `tresor-edit`) in it,
// acting through impersonation (kubectl --as). Every refusal is asserted with the apiserver's exact words.
// A hostile S3 endpoint (a 400 MiB config, a black hole) leaves the operator up and other backups running.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupVaultObject, RecoveryPointObject, VirtualMachineRestoreObject } from '../../operator/src/api/types.ts';
import { loadConfig } from '../../operator/src/operator/config.ts';
import { startOperator, type RunningOperator } from '../../operator/src/operator/run.ts';
import { createNamespace, deleteNamespace, eventually, kubectl, uniqueSuffix } from '../harness.ts';
import { backup, core, createVm, custom, type Ctx, DISK, diskFile, kc, operatorEnv, restore, setupEnv, sha, teardownEnv, TRESOR, waitRunning, writeAt } from './backup-env.ts';

const t = suite<Ctx>('tenancy and hardening (admission policies, PSA restricted, impersonated tenant)');
const ALICE = 'alice';
const s = {
  stop: new AbortController(), operator: undefined as RunningOperator | undefined, release: '', sys: '', other: '',
  servers: [] as Array<{ close(): void }>, sockets: [] as net.Socket[],
};

function helmBin(): string {
  const p = spawnSync('bash', ['-c', 'source hack/versions.sh && echo "$TRESOR_BIN/helm-$HELM_VERSION/helm"'], { encoding: 'utf8' });
  return p.stdout.trim();
}

/** kubectl as the tenant (impersonation headers, as `kubectl --as` sends them). */
function asAlice(args: readonly string[], input?: string): { code: number; out: string } {
  const r = kubectl(['--as', ALICE, ...args], input === undefined ? {} : { input });
  return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
}

function refused(args: readonly string[], input?: string): string {
  const r = asAlice(args, input);
  assert.is.not(r.code, 0, `expected a refusal of kubectl ${args.join(' ')}, got: ${r.out}`);
  return r.out;
}

const yaml = (o: unknown): string => JSON.stringify(o);
const fsVault = (ns: string, name: string, filesystem: Record<string, unknown>): string => yaml({
  apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name, namespace: ns }, spec: { filesystem, encryption: { keySecretRef: { name: 'vault-key' } } },
});

t.before(async (ctx) => {
  Object.assign(ctx, await setupEnv('sec'));
  // PSA restricted on the VM namespace before any pod exists: every backup and restore pod must be admitted.
  for (const [k, v] of [['enforce', 'restricted'], ['enforce-version', 'latest']]) assert.is(kubectl(['label', 'ns', ctx.ns, `pod-security.kubernetes.io/${k}=${v}`, '--overwrite']).code, 0);
  s.sys = await createNamespace('sec-sys');
  s.other = await createNamespace('sec-b');
  s.release = `sec-${uniqueSuffix()}`;
  await core.createNamespacedSecret({ namespace: s.sys, body: { metadata: { name: 'operator-pg' }, stringData: { url: 'postgres://tresor:secret@pg/tresor' } } });
  // The chart's policies and tenant roles as helm renders them; grants for this namespace's temp dir only.
  const r = spawnSync(helmBin(), ['template', s.release, 'charts/tresor', '--namespace', s.sys, '--set', 'postgres.existingSecret=operator-pg',
    '--set-json', `vaults.filesystem.allow=${JSON.stringify([`${ctx.ns}:${ctx.tmp}`])}`,
    '--show-only', 'templates/admission.yaml', '--show-only', 'templates/tenant-roles.yaml'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const applied = kubectl(['apply', '-f', '-'], { input: r.stdout });
  assert.is(applied.code, 0, applied.stderr);
  assert.is(kubectl(['-n', ctx.ns, 'create', 'rolebinding', 'alice-edit', '--clusterrole=edit', `--user=${ALICE}`]).code, 0);
  await eventually('edit aggregates tresor-edit', async () => (asAlice(['auth', 'can-i', 'create', 'backupvaults.tresor.io', '-n', ctx.ns]).out === 'yes' ? true : undefined));
  s.operator = await startOperator(loadConfig(operatorEnv(ctx, `e2e-${ctx.node}`)), s.stop.signal, kc);
});

t.after(async (ctx) => {
  s.stop.abort();
  await s.operator?.exited.catch(() => undefined);
  for (const x of s.servers) x.close();
  for (const x of s.sockets) x.destroy();
  if (s.release) kubectl(['delete', 'validatingadmissionpolicy,validatingadmissionpolicybinding,clusterrole', '-l', `app.kubernetes.io/instance=${s.release}`, '--ignore-not-found']);
  for (const ns of [s.sys, s.other]) if (ns) await deleteNamespace(ns);
  await teardownEnv(ctx);
});

const point = { rp: undefined as RecoveryPointObject | undefined, root: '', data: '' };

t('PSA restricted is enforced, and a backup and a restore of a Block + Filesystem VM run in it: every pod admitted', async (ctx) => {
  const bare = kubectl(['-n', ctx.ns, 'run', 'bare', '--image=x', '--restart=Never']);
  assert.match(bare.stderr, /violates PodSecurity "restricted:latest"/, 'the namespace refuses an unhardened pod');
  await createVm(ctx, 'web', { disks: [{ name: 'root', mode: 'Filesystem', size: DISK }, { name: 'data', mode: 'Block', size: DISK }] });
  await waitRunning(ctx, 'web');
  const rootFile = await diskFile(ctx, 'web-root', 'Filesystem');
  const dataFile = await diskFile(ctx, 'web-data', 'Block');
  writeAt(rootFile, 0, randomBytes(DISK));
  writeAt(dataFile, 0, randomBytes(DISK));
  point.root = sha(readFileSync(rootFile));
  point.data = sha(readFileSync(dataFile));
  const j = await backup(ctx, 'web-1', { vmName: 'web', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  point.rp = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: j.status!.recoveryPointName! })) as RecoveryPointObject;
  for (const d of point.rp.spec.disks) assert.is(sha(restore(ctx, d.vaultDiskId, d.manifestId)), d.name === 'root' ? point.root : point.data, d.name);

  await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, body: {
    apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore', metadata: { name: 'copy' }, spec: { recoveryPointRef: { name: point.rp.metadata.name }, target: { newVMName: 'web-copy' } },
  } });
  const r = await eventually('restore copy to finish', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name: 'copy' })) as VirtualMachineRestoreObject;
    return o.status?.phase === 'Succeeded' || o.status?.phase === 'Failed' ? o : undefined;
  }, 240_000);
  assert.is(r.status?.phase, 'Succeeded', JSON.stringify(r.status?.conditions));
  assert.is(sha(readFileSync(await diskFile(ctx, 'web-copy-data', 'Block'))), point.data, 'the Block disk restored byte for byte');
});

t('as alice (edit + tresor-edit): a host-path vault is refused, a granted one is accepted', async (ctx) => {
  const policy = `${s.release}-tresor-filesystem-vaults.tresor.io`;
  const host = refused(['create', '-f', '-'], fsVault(ctx.ns, 'evil', { path: '/var/lib/kubelet' }));
  assert.is(host, `Error from server (Forbidden): error when creating "STDIN": backupvaults.tresor.io "evil" is forbidden: ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: host-path vaults in namespace ${ctx.ns} are not allowed at /var/lib/kubelet: a cluster admin must grant a directory to this namespace (chart value vaults.filesystem.allow); use spec.s3 otherwise`);
  const pvc = refused(['create', '-f', '-'], fsVault(ctx.ns, 'evil-pvc', { persistentVolumeClaim: { claimName: 'web-root' } }));
  assert.is(pvc, `Error from server (Forbidden): error when creating "STDIN": backupvaults.tresor.io "evil-pvc" is forbidden: ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: PVC vaults in namespace ${ctx.ns} are not allowed: a cluster admin must grant them to this namespace (chart value vaults.filesystem.allow); use spec.s3 otherwise`);
  const dots = refused(['create', '-f', '-'], fsVault(ctx.ns, 'evil-dots', { path: `${ctx.tmp}/../../etc` }));
  assert.is(dots, `The BackupVault "evil-dots" is invalid: spec.filesystem.path: Invalid value: "${ctx.tmp}/../../etc": filesystem.path must not contain "." or ".." segments`);
  const ok = asAlice(['create', '-f', '-'], fsVault(ctx.ns, 'granted', { path: ctx.tmp }));
  assert.is(ok.code, 0, ok.out);
  // Granted, but a hostPath volume is not allowed under PSA restricted: a verdict on the vault, no pod.
  const granted = await eventually('the granted host-path vault judged', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name: 'granted' })) as BackupVaultObject;
    return o.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False');
  }, 60_000);
  assert.is(granted.reason, 'PodRejected');
  assert.match(granted.message ?? '', /violates PodSecurity "restricted:latest": restricted volume types .*use an S3 or PVC vault there/);
  // An admin may create anything the policy allows admins, but the operator still applies its own list.
  assert.is(kubectl(['create', '-f', '-'], { input: fsVault(ctx.ns, 'admin-made', { path: '/var/lib/kubelet' }) }).code, 0);
  const v = await eventually('the ungranted vault is VaultNotAllowed', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name: 'admin-made' })) as BackupVaultObject;
    return o.status?.conditions?.find((c) => c.reason === 'VaultNotAllowed');
  }, 60_000);
  assert.match(v.message ?? '', /host-path vaults in namespace .* are not allowed at \/var\/lib\/kubelet/);
  const pods = await core.listNamespacedPod({ namespace: ctx.ns, labelSelector: 'tresor.io/vault=admin-made' });
  assert.is(pods.items.length, 0, 'no pod was made for it');
});

t('as alice: no Secret of the operator\'s namespace, and no RecoveryPoint created or changed', async (ctx) => {
  assert.is(refused(['-n', s.sys, 'get', 'secret', 'operator-pg']), `Error from server (Forbidden): secrets "operator-pg" is forbidden: User "${ALICE}" cannot get resource "secrets" in API group "" in the namespace "${s.sys}"`);
  const rp = point.rp!;
  const forged = yaml({ apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint', metadata: { name: 'forged', namespace: ctx.ns }, spec: rp.spec });
  assert.is(refused(['create', '-f', '-'], forged), `Error from server (Forbidden): error when creating "STDIN": recoverypoints.tresor.io is forbidden: User "${ALICE}" cannot create resource "recoverypoints" in API group "tresor.io" in the namespace "${ctx.ns}"`);
  const name = rp.metadata.name!;
  assert.is(refused(['-n', ctx.ns, 'patch', 'recoverypoints.tresor.io', name, '--type=merge', '-p', '{"spec":{"vmName":"db"}}']), `The RecoveryPoint "${name}" is invalid: spec: Invalid value: spec is immutable`);
  const rpPolicy = `${s.release}-tresor-recoverypoints.tresor.io`;
  assert.is(refused(['-n', ctx.ns, 'label', 'recoverypoints.tresor.io', name, 'tresor.io/vault=other', '--overwrite']), `Error from server (Forbidden): recoverypoints.tresor.io "${name}" is forbidden: ValidatingAdmissionPolicy '${rpPolicy}' with binding '${rpPolicy}' denied request: the tresor.io/ labels of a RecoveryPoint are written only by the Tresor operator`);
  assert.is(refused(['-n', ctx.ns, 'patch', 'recoverypoints.tresor.io', name, '--subresource=status', '--type=merge', '-p', '{"status":{"tier":"Snapshot"}}']), `Error from server (Forbidden): recoverypoints.tresor.io "${name}" is forbidden: User "${ALICE}" cannot get resource "recoverypoints/status" in API group "tresor.io" in the namespace "${ctx.ns}"`);
  // Even a tenant someone wrongly granted status rights cannot write it: the policy, not RBAC, refuses.
  assert.is(kubectl(['-n', ctx.ns, 'create', 'role', 'status-writer', '--verb=get,patch,update', '--resource=recoverypoints.tresor.io/status,backupvaults.tresor.io/status']).code, 0);
  assert.is(kubectl(['-n', ctx.ns, 'create', 'rolebinding', 'alice-status', '--role=status-writer', `--user=${ALICE}`]).code, 0);
  const statusPolicy = `${s.release}-tresor-status.tresor.io`;
  const statusRefusal = await eventually('the status role to take effect', async () => {
    const r = asAlice(['-n', ctx.ns, 'patch', 'recoverypoints.tresor.io', name, '--subresource=status', '--type=merge', '-p', '{"status":{"tier":"Snapshot"}}']);
    return /ValidatingAdmissionPolicy/.test(r.out) ? r.out : undefined;
  });
  assert.is(statusRefusal, `Error from server (Forbidden): recoverypoints.tresor.io "${name}" is forbidden: ValidatingAdmissionPolicy '${statusPolicy}' with binding '${statusPolicy}' denied request: the status of Tresor objects is written only by the Tresor operator`);
  const annotate = asAlice(['-n', ctx.ns, 'annotate', 'recoverypoints.tresor.io', name, 'note=mine']);
  assert.is(annotate.code, 0, `tenants may still annotate: ${annotate.out}`);
});

t('a point naming namespace B\'s data (copied in by an admin) is neither restored nor forgotten', async (ctx) => {
  const rp = point.rp!;
  // B's data: the same disk id scheme with B's namespace, as a shared repository would hold it.
  const foreign = rp.spec.disks.map((d) => ({ ...d, vaultDiskId: d.vaultDiskId.replace(`${ctx.ns}.`, `${s.other}.`) }));
  const created = kubectl(['create', '-f', '-'], { input: yaml({ apiVersion: 'tresor.io/v1alpha1', kind: 'RecoveryPoint', metadata: { name: 'copied', namespace: ctx.ns, finalizers: ['tresor.io/vault-data'] }, spec: { ...rp.spec, disks: foreign } }) });
  assert.is(created.code, 0, created.stderr);
  const st = kubectl(['-n', ctx.ns, 'patch', 'recoverypoints.tresor.io', 'copied', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions: [{ type: 'Available', status: 'True', reason: 'InVault', message: 'x', lastTransitionTime: new Date().toISOString() }] } })]);
  assert.is(st.code, 0, st.stderr);
  const mk = asAlice(['create', '-f', '-'], yaml({ apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineRestore', metadata: { name: 'steal', namespace: ctx.ns }, spec: { recoveryPointRef: { name: 'copied' }, target: { newVMName: 'stolen' } } }));
  assert.is(mk.code, 0, mk.out);
  const r = await eventually('restore steal refused', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinerestores', namespace: ctx.ns, name: 'steal' })) as VirtualMachineRestoreObject;
    return o.status?.phase === 'Failed' ? o : undefined;
  }, 120_000);
  const c = r.status?.conditions?.find((x) => x.type === 'Succeeded');
  assert.is(c?.reason, 'ForeignVaultData');
  assert.is(c?.message, `RecoveryPoint copied names vault data that is not its own VM's in namespace ${ctx.ns} (disk(s) ${rp.spec.disks.map((d) => d.name).join(', ')}); it was not recorded by Tresor and is never restored`);
  // Deleting it (alice may) releases it without forgetting: the real point's manifests stay in the vault.
  assert.is(asAlice(['-n', ctx.ns, 'delete', 'recoverypoints.tresor.io', 'copied', '--wait=false']).code, 0);
  await eventually('the copied point is gone', async () => (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'recoverypoints', namespace: ctx.ns, name: 'copied' }).then(() => undefined, () => true)), 120_000);
  const ev = (await core.listNamespacedEvent({ namespace: ctx.ns, fieldSelector: 'involvedObject.name=copied' })).items;
  assert.ok(ev.some((e) => e.reason === 'VaultDataKept' && /ForeignVaultData/.test(e.message ?? '')), ev.map((e) => `${e.reason}: ${e.message}`).join('\n'));
  for (const d of rp.spec.disks) assert.is(sha(restore(ctx, d.vaultDiskId, d.manifestId)), d.name === 'root' ? point.root : point.data, `${d.name} still restores`);
});

async function hostileEndpoints(): Promise<{ big: string; hole: string }> {
  const big = http.createServer((_q, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const chunk = Buffer.alloc(1 << 20, 0x7b);
    let sent = 0;
    const push = (): void => {
      while (sent < 400 * 2 ** 20) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', push);
      }
      res.end();
    };
    push();
  }).listen(0, '127.0.0.1');
  const hole = net.createServer((sock) => void s.sockets.push(sock)).listen(0, '127.0.0.1');
  await Promise.all([new Promise((r) => big.once('listening', r)), new Promise((r) => hole.once('listening', r))]);
  s.servers.push(big, hole);
  return { big: `http://127.0.0.1:${(big.address() as net.AddressInfo).port}`, hole: `http://127.0.0.1:${(hole.address() as net.AddressInfo).port}` };
}

t('a 400 MiB config and a black-hole endpoint: the operator stays up within 1 GiB, and another backup succeeds meanwhile', async (ctx) => {
  const ep = await hostileEndpoints();
  for (const [name, endpoint] of [['huge-config', ep.big], ['black-hole', ep.hole]] as const) {
    const r = asAlice(['create', '-f', '-'], yaml({ apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name, namespace: ctx.ns }, spec: { s3: { endpoint, bucket: 'bkt', forcePathStyle: true, credentialsSecretRef: { name: 's3' } }, encryption: { keySecretRef: { name: 'vault-key' } } } }));
    assert.is(r.code, 0, r.out);
  }
  const huge = await eventually('huge-config judged', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name: 'huge-config' })) as BackupVaultObject;
    return o.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False');
  }, 120_000);
  assert.is(huge.reason, 'VaultUninitialized');
  assert.match(huge.message ?? '', /larger than 65536 bytes/);
  const j = await backup(ctx, 'web-2', { vmName: 'web', vaultRef: { name: 'vault' } });
  assert.is(j.status?.phase, 'Succeeded', JSON.stringify(j.status?.conditions));
  const hole = await eventually('black-hole judged', async () => {
    const o = (await custom.getNamespacedCustomObject({ ...TRESOR, plural: 'backupvaults', namespace: ctx.ns, name: 'black-hole' })) as BackupVaultObject;
    return o.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False');
  }, 120_000);
  assert.is(hole.reason, 'VaultUnreachable');
  // The operator runs in this process: its peak resident size over the whole suite.
  const peakMiB = process.resourceUsage().maxRSS / 1024;
  console.log(`  operator process peak RSS ${peakMiB.toFixed(0)} MiB after a 400 MiB config and a black hole`);
  assert.ok(peakMiB < 1024, `peak RSS ${peakMiB} MiB`);
});

t.run();
