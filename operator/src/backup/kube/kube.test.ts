import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { V1Pod } from '@kubernetes/client-node';
import type { BackupPolicyObject, BackupVaultObject, VirtualMachineBackupObject } from '../../api/types.ts';
import { isRetryable, retrying } from './client.ts';
import { applyUpdate, eventsFor } from './job-status.ts';
import { guestOf, vmVolumeClaims } from './kubevirt.ts';
import { jobSettings, quantityBytes } from './observe.ts';
import { parseFreezeReport, parseTransferReport, podEnd } from './results.ts';
import { ownedBy, snapshotPod, transferPod, vaultDiskId } from './specs.ts';
import { KEY_FILE, vaultAccess } from './vault-access.ts';

const job = { namespace: 'ns', name: 'nightly-web-1', uid: 'uid-1' };
const s3Vault: BackupVaultObject = {
  apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v' },
  spec: { s3: { endpoint: 'http://127.0.0.1:9000', bucket: 'bkt', prefix: 'team/a', region: 'eu-1', credentialsSecretRef: { name: 'creds' } }, encryption: { keySecretRef: { name: 'k' } } },
};

test('VM disks: PVC and DataVolume volumes attached as disks; cloud-init is skipped', () => {
  const vm = { spec: { template: { spec: {
    domain: { devices: { disks: [{ name: 'root' }, { name: 'data' }, { name: 'ci' }] } },
    volumes: [{ name: 'root', dataVolume: { name: 'web-root' } }, { name: 'data', persistentVolumeClaim: { claimName: 'web-data' } }, { name: 'ci' }, { name: 'stray', persistentVolumeClaim: { claimName: 'x' } }],
  } } } };
  assert.equal(vmVolumeClaims(vm), [{ name: 'root', claimName: 'web-root' }, { name: 'data', claimName: 'web-data' }]);
});

test('guest: no VMI is a stopped VM; AgentConnected and guestOSInfo decide the rest', () => {
  assert.equal(guestOf(undefined), { running: false, agentConnected: false, os: 'unknown' });
  const vmi = { status: { phase: 'Running', conditions: [{ type: 'AgentConnected', status: 'True' }], guestOSInfo: { id: 'mswindows' } } };
  assert.equal(guestOf(vmi), { running: true, agentConnected: true, os: 'windows' });
  assert.equal(guestOf({ status: { phase: 'Running' } }), { running: true, agentConnected: false, os: 'unknown' });
});

test('quantities parse to bytes', () => {
  assert.is(quantityBytes('10Gi'), 10 * 2 ** 30);
  assert.is(quantityBytes('1048576'), 1048576);
  assert.is(quantityBytes('2M'), 2_000_000);
});

test('vault access: S3 URL with endpoint/region, credentials from the Secret, key as a file', () => {
  const a = vaultAccess(s3Vault, []);
  assert.is(a.url, 's3://bkt/team/a?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-1');
  assert.ok(a.env.some((e) => e.name === 'AWS_ACCESS_KEY_ID' && e.valueFrom?.secretKeyRef?.name === 'creds'));
  assert.ok(a.env.every((e) => e.value === undefined || e.name === 'AWS_REGION'), 'no secret values in the pod spec');
  assert.is(a.mounts[0]?.mountPath, '/etc/tresor/key');
  assert.is(new URL(a.url).searchParams.get('endpoint'), 'http://127.0.0.1:9000');
});

test('transfer pod: owned, labelled, reads the block device, parent auto unless forceFull', () => {
  const disk = { name: 'data', pvcName: 'web-data', volumeMode: 'Block' as const, sizeBytes: 1 << 20 };
  const pod = transferPod({ job, vmName: 'web', disk, attempt: 1, diskId: vaultDiskId('ns', 'vm-uid', 'data'), forceFull: false, vault: vaultAccess(s3Vault, []) }, { image: 'tresor:dev' });
  assert.is(pod.metadata?.name, 'nightly-web-1-data-xfer-1');
  assert.ok(ownedBy(pod, job));
  const args = pod.spec!.containers[0]!.args!;
  assert.equal(args.slice(args.indexOf('--parent'), args.indexOf('--parent') + 2), ['--parent', 'auto']);
  assert.ok(args.includes(KEY_FILE));
  assert.is(pod.spec!.containers[0]!.volumeDevices?.[0]?.devicePath, '/dev/tresor-source');
  assert.is(pod.spec!.volumes![0]!.persistentVolumeClaim?.claimName, 'nightly-web-1-data-src');
  const full = transferPod({ job, vmName: 'web', disk: { ...disk, volumeMode: 'Filesystem' }, attempt: 0, diskId: 'd', forceFull: true, vault: vaultAccess(s3Vault, []) }, { image: 'tresor:dev' });
  const fargs = full.spec!.containers[0]!.args!;
  assert.is(fargs[fargs.indexOf('--parent') + 1], 'none');
  assert.ok(fargs.includes('/var/lib/tresor/source/disk.img'));
});

test('transfer pod: reports progress in an Event under the transfer ServiceAccount, knowing its own name from the downward API', () => {
  const disk = { name: 'data', pvcName: 'web-data', volumeMode: 'Block' as const, sizeBytes: 1 << 20 };
  const input = { job, vmName: 'web', disk, attempt: 0, diskId: 'd', forceFull: false, vault: vaultAccess(s3Vault, []) };
  const pod = transferPod(input, { image: 'tresor:dev', transferServiceAccount: 'tresor-transfer' });
  assert.is(pod.spec!.serviceAccountName, 'tresor-transfer');
  const c = pod.spec!.containers[0]!;
  assert.ok(c.args!.includes('--progress-events'));
  const field = (n: string): string | undefined => c.env?.find((e) => e.name === n)?.valueFrom?.fieldRef?.fieldPath;
  assert.equal([field('POD_NAME'), field('POD_NAMESPACE'), field('POD_UID')], ['metadata.name', 'metadata.namespace', 'metadata.uid']);
  assert.ok(c.env!.some((e) => e.name === 'AWS_ACCESS_KEY_ID'), 'the vault credentials stay');
  assert.is(transferPod(input, { image: 'tresor:dev' }).spec!.serviceAccountName, undefined, 'no setting: the namespace default');
});

test('transfer pod: the policy\'s bandwidth quantity reaches the mover as bytes per second', () => {
  const input = { job, vmName: 'web', disk: { name: 'root', pvcName: 'web-root', volumeMode: 'Block' as const, sizeBytes: 1 }, attempt: 0, diskId: 'd', forceFull: false, vault: vaultAccess(s3Vault, []) };
  const args = (bandwidthLimit: string): string[] => transferPod({ ...input, bandwidthLimit }, { image: 'tresor:dev' }).spec!.containers[0]!.args!;
  const after = (a: string[]): string | undefined => a[a.indexOf('--bandwidth') + 1];
  assert.is(after(args('2M')), '2000000');
  assert.is(after(args('50Mi')), String(50 * 1024 * 1024));
});

test('job settings: the policy\'s transfer.maxRetries, else the API default 2', () => {
  const vmb = { apiVersion: 'tresor.io/v1alpha1', kind: 'VirtualMachineBackup', metadata: { name: 'j' }, spec: { vmName: 'web' } } as VirtualMachineBackupObject;
  const policy = (transfer: Record<string, unknown> | undefined): BackupPolicyObject => ({ metadata: { name: 'p' }, spec: { transfer } }) as unknown as BackupPolicyObject;
  assert.is(jobSettings({ job: vmb, policy: undefined, vault: s3Vault }).maxTransferRetries, 2);
  assert.is(jobSettings({ job: vmb, policy: policy({ maxRetries: 0 }), vault: s3Vault }).maxTransferRetries, 0);
  assert.is(jobSettings({ job: vmb, policy: policy({ maxParallelDisks: 2 }), vault: s3Vault }).maxTransferRetries, 2);
});

test('snapshot pod: disks, freeze flag and timeout on its command line', () => {
  const pod = snapshotPod({ job, vmName: 'web', disks: [{ name: 'root', pvcName: 'web-root', volumeMode: 'Filesystem', sizeBytes: 1 }], freeze: true, runHooks: false, freezeTimeoutMs: 30_000 }, { image: 'tresor:dev', snapshotServiceAccount: 'tresor-snapshot' });
  const args = pod.spec!.containers[0]!.args!;
  assert.ok(args.includes('--freeze'));
  assert.ok(args.includes('root=web-root'));
  assert.is(args[args.indexOf('--freeze-timeout') + 1], '30000ms');
  assert.is(pod.spec!.serviceAccountName, 'tresor-snapshot');
  assert.not.ok(ownedBy({ metadata: { ownerReferences: [{ apiVersion: 'x', kind: 'y', name: 'z', uid: 'other' }], labels: { 'app.kubernetes.io/managed-by': 'tresor' } } }, job));
});

test('pod end: phase and termination message', () => {
  const pod = (phase: string, message?: string, exitCode = 0): V1Pod => ({ status: { phase, containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, message } } }] } });
  assert.equal(podEnd(pod('Running')), { state: 'running' });
  assert.equal(podEnd(pod('Succeeded', '{"a":1}')), { state: 'succeeded', message: '{"a":1}' });
  assert.equal(podEnd(pod('Failed', 'boom', 3)), { state: 'failed', message: 'boom', exitCode: 3 });
});

test('freeze report: parsed field by field; garbage is a clear error', () => {
  const r = parseFreezeReport('{"freeze":"failed","hooks":"none","snapshots":[{"disk":"root","snapshotName":"j-root"}],"frozenMs":0,"detail":"agent said no"}');
  assert.is(r.freeze, 'failed');
  assert.is(r.detail, 'agent said no');
  assert.throws(() => parseFreezeReport('Error: cannot connect'), /JSON report/);
  assert.throws(() => parseFreezeReport('{"freeze":"maybe","hooks":"none","snapshots":[]}'), /incomplete/);
});

test('transfer report: mover types map to API types with fallback reasons', () => {
  const base = { backupId: 'b2', diskId: 'd', bytesRead: 100, bytesUploaded: 10, blocksUploaded: 1, blocksReused: 0, zeroBlocks: 0, durationMs: 1, diskSize: 100, blockSize: 1, blocks: 1 };
  const inc = parseTransferReport(JSON.stringify({ ...base, type: 'incremental-hash', parentId: 'b1', reason: 'hashed' }), false);
  assert.equal([inc.type, inc.changeDetection, inc.fallbackReason, inc.parentManifestId], ['Incremental', 'HashCompare', 'ChangedBlocksUnavailable', 'b1']);
  const full = parseTransferReport(JSON.stringify({ ...base, type: 'full', parentId: null, reason: 'no earlier backup' }), false);
  assert.equal([full.type, full.fallbackReason, full.parentManifestId], ['Full', 'NoParent', undefined]);
  assert.is(parseTransferReport(JSON.stringify({ ...base, type: 'full', parentId: null, reason: 'x' }), true).fallbackReason, 'FullRequested');
  assert.throws(() => parseTransferReport('{"type":"full"}', false), /backupId/);
});

test('status update: fields replace, conditions merge and keep transition times', () => {
  const first = applyUpdate(undefined, { fields: { phase: 'Running' }, conditions: [{ type: 'Succeeded', status: 'Unknown', reason: 'InProgress', message: 'm' }] }, { nowMs: 1000, generation: 1 });
  const second = applyUpdate(first, { fields: { recoveryPointName: 'rp' }, conditions: [{ type: 'Succeeded', status: 'Unknown', reason: 'InProgress', message: 'm2' }] }, { nowMs: 5000, generation: 1 });
  assert.is(second.phase, 'Running');
  assert.is(second.recoveryPointName, 'rp');
  assert.is(second.conditions?.[0]?.lastTransitionTime, '1970-01-01T00:00:01Z');
  assert.is(second.conditions?.[0]?.observedGeneration, 1);
});

test('events: a degraded consistency is a Warning; failures too', () => {
  const ev = eventsFor({ fields: { consistency: { level: 'CrashConsistent', reason: 'GuestAgentNotConnected', message: 'no agent' } }, conditions: [] });
  assert.ok(ev.some(([t, r]) => t === 'Warning' && r === 'ConsistencyDegraded'));
  const ok = eventsFor({ fields: { consistency: { level: 'FileSystemConsistent', reason: 'VirtualMachineStopped' } }, conditions: [] });
  assert.not.ok(ok.some(([t]) => t === 'Warning'));
  const failed = eventsFor({ fields: { phase: 'Failed' }, conditions: [{ type: 'Succeeded', status: 'False', reason: 'ConsistencyNotMet', message: 'x' }] });
  assert.equal(failed, [['Warning', 'BackupFailed', 'ConsistencyNotMet: x']]);
});

test('retryable: throttling, 5xx and dropped connections; not 4xx or our own errors', () => {
  assert.ok(isRetryable({ code: 503 }));
  assert.ok(isRetryable({ code: 429 }));
  assert.ok(isRetryable(new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })));
  assert.not.ok(isRetryable({ code: 404 }));
  assert.not.ok(isRetryable({ code: 422 }));
  assert.not.ok(isRetryable(new Error('snapshot pod failed')));
});

test('retrying repeats an idempotent step after a blip and gives up on anything else at once', async () => {
  let n = 0;
  assert.is(await retrying(async () => (++n < 3 ? Promise.reject({ code: 503 }) : 'ok'), { baseMs: 1 }), 'ok');
  assert.is(n, 3);
  let m = 0;
  const err = await retrying(async () => {
    m++;
    throw Object.assign(new Error('bad'), { code: 422 });
  }, { baseMs: 1 }).catch((e: unknown) => e);
  assert.is((err as Error).message, 'bad');
  assert.is(m, 1);
  let k = 0;
  await retrying(async () => {
    k++;
    throw { code: 500 };
  }, { baseMs: 1, attempts: 3 }).catch(() => undefined);
  assert.is(k, 3);
});

test.run();
