// The local demo (`npm run demo`) is the project's main job: this runs its script against the test
// environment under its own namespace and node name, and checks what it shows a newcomer — a full then
// an incremental backup that moves only the changed disk, and a restore whose disks equal the originals.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { uniqueSuffix } from '../harness.ts';

const DEMO = fileURLToPath(new URL('../../hack/demo/main.ts', import.meta.url));
const t = suite('demo: npm run demo, end to end');

function runDemo(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEMO], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

t('the demo runs to its end: policy, full and incremental backups, recovery points, a byte-exact restore', async () => {
  const name = `demo-test-${uniqueSuffix()}`;
  const { code, out } = await runDemo({ TRESOR_DEMO_NAMESPACE: name, TRESOR_DEMO_NODE: name });
  assert.is(code, 0, out);
  assert.match(out, /backup-1 +web-1 +Succeeded +FileSystemConsistent +Full/);
  assert.match(out, /root: Incremental by HashCompare, 67108864 B disk, read \d+ B, uploaded 10486\d\d B/, 'one changed 1 MiB block moves');
  assert.match(out, /data: Incremental by HashCompare, 67108864 B disk, read \d+ B, uploaded 0 B/, 'the untouched disk moves nothing');
  assert.match(out, /restore-1 +backup-2 +web-1-restored +Succeeded/);
  assert.is(out.match(/equals the original/g)?.length, 2, out);
  assert.match(out, /==> \d+\. Done in \d+ s/);
});

t.run();
