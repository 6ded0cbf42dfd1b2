// The local demo, step by step as a platform team would do it: a real control plane (hack/env.sh), the
// local node agent (hack/node-agent) standing in for kubelet, CSI and KubeVirt, the operator as a
// process, a VM with two disks, a BackupPolicy, a backup now, a recovery point, a second backup that
// moves only what changed, and a restore to a new VM whose disks are compared byte for byte.
//   npm run demo            (sets everything up first; see hack/demo.sh)
//   node hack/demo/main.ts [--keep]   with the environment already exported (eval "$(npm run -s env:up)")
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { startAgentProcess, type AgentProcess } from '../node-agent/testing.ts';
import { backupNow, DISKS, podRbac, policy, restoreTo, vaultObjects, VM, vmObjects, type DemoSettings } from './manifests.ts';
import { diskHash, fileOfPvc, ROOT, say, scribble, sh, startOperator, type OperatorProcess, waitFor } from './steps.ts';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the demo with 'npm run demo', or first eval "$(npm run -s env:up)"`);
  return v;
}

function settings(): DemoSettings {
  return {
    // The test of the demo (test/e2e/demo.test.ts) runs it beside other suites under its own names.
    namespace: process.env.TRESOR_DEMO_NAMESPACE || 'tresor-demo', node: process.env.TRESOR_DEMO_NODE || 'tresor-demo-node', bucket: `tresor-demo-${randomBytes(3).toString('hex')}`, vaultKeyHex: randomBytes(32).toString('hex'),
    s3: { endpoint: env('TRESOR_S3_ENDPOINT'), region: process.env.AWS_REGION ?? 'us-east-1', accessKeyId: env('AWS_ACCESS_KEY_ID'), secretAccessKey: env('AWS_SECRET_ACCESS_KEY') },
  };
}

const apply = (ns: string, objects: readonly object[]): void => {
  sh(['kubectl', '-n', ns, 'apply', '-f', '-'], { input: objects.map((o) => stringify(o)).join('---\n'), show: true });
};

async function prepareCluster(s: DemoSettings, keyFile: string): Promise<void> {
  say('Install the CRDs and create the namespace');
  const crds = readdirSync(join(ROOT, 'crds')).filter((f) => f.endsWith('.yaml')).flatMap((f) => ['-f', join(ROOT, 'crds', f)]);
  sh(['kubectl', 'apply', '--server-side', '--force-conflicts', ...crds]);
  sh(['kubectl', 'wait', '--for=condition=Established', '--timeout=60s', ...crds]);
  sh(['kubectl', 'delete', 'namespace', s.namespace, '--ignore-not-found', '--wait=true', '--timeout=120s']);
  sh(['kubectl', 'create', 'namespace', s.namespace]);

  say(`Create the S3 bucket ${s.bucket} and initialise the vault in it (tresor vault init)`);
  const s3 = new S3Client({ endpoint: s.s3.endpoint, region: s.s3.region, forcePathStyle: true, credentials: { accessKeyId: s.s3.accessKeyId, secretAccessKey: s.s3.secretAccessKey } });
  await s3.send(new CreateBucketCommand({ Bucket: s.bucket }));
  writeFileSync(keyFile, `${s.vaultKeyHex}\n`, { mode: 0o600 });
  const url = `s3://${s.bucket}/vms?endpoint=${encodeURIComponent(s.s3.endpoint)}`;
  sh([process.execPath, join(ROOT, 'operator/bin/tresor.js'), 'vault', 'init', '--vault', url, '--key-file', keyFile], { show: true });
  apply(s.namespace, [...vaultObjects(s), ...podRbac(s.namespace)]);
}

async function createVm(s: DemoSettings): Promise<void> {
  say(`Create the VM ${VM} with two disks (Block and Filesystem volume mode) and let its guest write data`);
  apply(s.namespace, vmObjects(s));
  await waitFor(`VMI ${VM} Running`, () => sh(['kubectl', '-n', s.namespace, 'get', 'vmi', VM, '-o', 'jsonpath={.status.phase}'], { check: false }).stdout === 'Running');
  for (const d of DISKS) scribble(await fileOfPvc(s.namespace, `${VM}-${d.name}`), { offset: 0, bytes: 24 << 20 });
}

async function runBackup(s: DemoSettings, name: string): Promise<string> {
  apply(s.namespace, [backupNow(name)]);
  let seen = '';
  await waitFor(`${name} to finish`, () => {
    // The job's status as it moves: phase, and per disk the transfer's live progress.
    const now = sh(['kubectl', '-n', s.namespace, 'get', 'tvmbackup', name, '-o', 'jsonpath={.status.phase}{range .status.disks[*]} {.name}={.progress.percent}%{end}'], { check: false }).stdout;
    if (now && now !== seen) process.stdout.write(`    ${(seen = now)}\n`);
    return /^(Succeeded|Failed)/.test(now);
  }, 300_000);
  sh(['kubectl', '-n', s.namespace, 'get', 'tvmbackup', name], { show: true });
  const phase = sh(['kubectl', '-n', s.namespace, 'get', 'tvmbackup', name, '-o', 'jsonpath={.status.phase}']).stdout;
  if (phase !== 'Succeeded') {
    sh(['kubectl', '-n', s.namespace, 'describe', 'tvmbackup', name], { show: true, check: false });
    throw new Error(`backup ${name} ended ${phase}`);
  }
  sh(['kubectl', '-n', s.namespace, 'get', 'tvmbackup', name, '-o', 'jsonpath={range .status.disks[*]}{.name}: {.type} by {.changeDetection}, {.sizeBytes} B disk, read {.bytesRead} B, uploaded {.bytesUploaded} B{"\\n"}{end}'], { show: true });
  return sh(['kubectl', '-n', s.namespace, 'get', 'tvmbackup', name, '-o', 'jsonpath={.status.recoveryPointName}']).stdout;
}

async function restoreAndCompare(s: DemoSettings, point: string): Promise<void> {
  say(`Restore recovery point ${point} to a new VM ${VM}-restored and compare every disk byte for byte`);
  const want = new Map<string, string>();
  for (const d of DISKS) want.set(d.name, diskHash(await fileOfPvc(s.namespace, `${VM}-${d.name}`)));
  apply(s.namespace, [restoreTo('restore-1', point, `${VM}-restored`)]);
  await waitFor('the restore to finish', () => /^(Succeeded|Failed)$/.test(sh(['kubectl', '-n', s.namespace, 'get', 'tvmrestore', 'restore-1', '-o', 'jsonpath={.status.phase}'], { check: false }).stdout), 300_000);
  sh(['kubectl', '-n', s.namespace, 'get', 'tvmrestore', 'restore-1'], { show: true });
  const phase = sh(['kubectl', '-n', s.namespace, 'get', 'tvmrestore', 'restore-1', '-o', 'jsonpath={.status.phase}']).stdout;
  if (phase !== 'Succeeded') {
    sh(['kubectl', '-n', s.namespace, 'describe', 'tvmrestore', 'restore-1'], { show: true, check: false });
    throw new Error(`restore ended ${phase}`);
  }
  sh(['kubectl', '-n', s.namespace, 'get', 'vm', `${VM}-restored`, '-o', 'jsonpath={range .spec.template.spec.volumes[*]}{.name} <- pvc/{.persistentVolumeClaim.claimName}{"\\n"}{end}'], { show: true });
  const disks = JSON.parse(sh(['kubectl', '-n', s.namespace, 'get', 'tvmrestore', 'restore-1', '-o', 'jsonpath={.status.disks}']).stdout) as Array<{ name: string; pvcName: string }>;
  for (const d of DISKS) {
    const pvc = disks.find((x) => x.name === d.name)?.pvcName;
    if (!pvc) throw new Error(`the restore reports no PVC for disk ${d.name}`);
    const got = diskHash(await fileOfPvc(s.namespace, pvc));
    if (got !== want.get(d.name)) throw new Error(`disk ${d.name}: restored sha256 ${got} differs from the original ${want.get(d.name)}`);
    process.stdout.write(`    disk ${d.name}: pvc/${pvc} sha256 ${got.slice(0, 16)}… equals the original\n`);
  }
}

async function demo(s: DemoSettings, procs: { agent?: AgentProcess; operator?: OperatorProcess }, tmp: string): Promise<void> {
  const started = Date.now();
  await prepareCluster(s, join(tmp, 'vault.key'));
  say(`Start the local node agent (node ${s.node}: runs pods as processes, CSI snapshots, KubeVirt VMs)`);
  procs.agent = await startAgentProcess({ nodeName: s.node });
  await createVm(s);
  say('Start the Tresor operator (DBOS workflows on Postgres)');
  procs.operator = await startOperator(s, env('TRESOR_PG_URL'));
  say('Apply a BackupPolicy that selects every VM labelled tier=production, nightly at 01:30 Berlin time');
  apply(s.namespace, [policy()]);
  say('Back up now under that policy: snapshot (guest frozen), both disks to the vault in parallel, recovery point');
  await runBackup(s, 'backup-1');
  say('The guest changes 1% of one disk; back up again: only the changed blocks move');
  scribble(await fileOfPvc(s.namespace, `${VM}-root`), { offset: 8 << 20, bytes: 640 << 10 });
  const point = await runBackup(s, 'backup-2');
  sh(['kubectl', '-n', s.namespace, 'get', 'tresor'], { show: true });
  await restoreAndCompare(s, point);
  say(`Done in ${Math.round((Date.now() - started) / 1000)} s: a policy, two backups (full, then incremental), two recovery points, a byte-exact restore.`);
}

async function cleanup(s: DemoSettings, procs: { agent?: AgentProcess; operator?: OperatorProcess }, o: { keep: boolean; tmp: string }): Promise<void> {
  if (o.keep) {
    process.stdout.write(`\nKept namespace ${s.namespace}; the operator and node agent stop with this process.\n`);
  } else {
    // While the operator still runs: its finalizers release the jobs, so the namespace does not hang.
    sh(['kubectl', 'delete', 'namespace', s.namespace, '--ignore-not-found', '--wait=true', '--timeout=180s'], { check: false });
  }
  await procs.operator?.stop();
  await procs.agent?.stop();
  rmSync(o.tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const s = settings();
  const tmp = mkdtempSync(join(tmpdir(), 'tresor-demo-'));
  const procs: { agent?: AgentProcess; operator?: OperatorProcess } = {};
  let cleaning: Promise<void> | undefined;
  const clean = (): Promise<void> => (cleaning ??= cleanup(s, procs, { keep, tmp }));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: cleaning up\n`);
      void clean().finally(() => process.exit(130));
    });
  }
  try {
    await demo(s, procs, tmp);
  } finally {
    await clean();
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
