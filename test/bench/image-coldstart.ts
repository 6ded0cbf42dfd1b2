// Cold start of the operator from its image: the image `npm run image` wrote, unpacked as the node agent
// unpacks it, run in its own root with bubblewrap as uid 65532 on a read-only root (what the chart asks),
// timed from exec until /readyz answers 200. Needs the local environment (KUBECONFIG, TRESOR_PG_URL) with
// the CRDs installed. Run: eval "$(npm run -s env:up)"; npx node test/bench/image-coldstart.ts [--runs 3]
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bwrapBinary } from '../../hack/node-agent/container.ts';
import { ImageStore } from '../../hack/node-agent/images.ts';
import { bwrapArgs } from '../../hack/node-agent/sandbox.ts';

const cache = process.env.TRESOR_CACHE ?? join(homedir(), '.cache', 'tresor');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3);

async function ready(port: number, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function once(rootfs: string, port: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'coldstart-'));
  copyFileSync(process.env.KUBECONFIG!, join(dir, 'kubeconfig'));
  const args = bwrapArgs({
    rootfs, readOnlyRoot: true, user: { uid: 65532, gid: 65532 }, workingDir: '/app',
    mounts: [{ source: dir, target: '/kube', mode: 'ro-bind' }, { source: mkdtempSync(join(tmpdir(), 'coldstart-tmp-')), target: '/tmp', mode: 'bind' }],
    command: ['node', '/app/operator/src/main.ts'],
  });
  const env = {
    PATH: '/usr/local/bin', HOME: '/home/nonroot', KUBECONFIG: '/kube/kubeconfig', TRESOR_PG_URL: process.env.TRESOR_PG_URL!,
    TRESOR_OPS_PORT: String(port), TRESOR_EXECUTOR_ID: `coldstart-${port}`, TRESOR_WATCH_NAMESPACE: 'coldstart-none',
  };
  const t0 = Date.now();
  const child = spawn(bwrapBinary(), args, { env, stdio: 'ignore' });
  try {
    if (!(await ready(port, t0 + 120_000))) throw new Error('the operator was not ready within 120 s');
    return Date.now() - t0;
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

const store = new ImageStore([join(cache, 'image', 'out', 'oci')], join(cache, 'node-agent', 'images'));
const image = store.pull('ghcr.io/tresor-io/tresor:0.1.0');
for (let i = 0; i < runs; i++) {
  const ms = await once(image.rootfs, 18600 + i);
  process.stdout.write(`image ${image.digest.slice(0, 19)}… ready after ${ms} ms (load ${(await import('node:os')).loadavg()[0]!.toFixed(1)})\n`);
}
