// kill -9 in the middle of a backup, then run it again: it completes and uploads only what was missing.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FsStore } from '../vault/fs-store.ts';
import { verifyVault } from '../vault/verify.ts';
import { Vault } from '../vault/vault.ts';
import { sameBytes, tempDir, writeImage } from './fixtures.ts';

const test = suite('mover: resume after SIGKILL');
const MiB = 1 << 20;
const BIN = fileURLToPath(new URL('../../bin/tresor.js', import.meta.url));
let dir = '';
let cleanup: () => Promise<void> = async () => {};

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
});
test.after(async () => cleanup());

async function countBlocks(root: string): Promise<number> {
  let n = 0;
  for (const sub of await readdir(join(root, 'blocks')).catch(() => [])) {
    n += (await readdir(join(root, 'blocks', sub))).filter((f) => !f.includes('.tmp-')).length;
  }
  return n;
}

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a backup killed with SIGKILL resumes: the rerun uploads exactly the blocks that were not stored', async () => {
  const keyFile = join(dir, 'key');
  const key = randomBytes(32);
  await writeFile(keyFile, key.toString('hex'));
  const vaultDir = join(dir, 'vault');
  const url = `file://${vaultDir}`;
  assert.is(cli(['vault', 'init', '--vault', url, '--key-file', keyFile]).code, 0);
  const src = join(dir, 'disk.img');
  await writeImage(src, 32 * MiB, [{ offset: 0, length: 32 * MiB, fill: 'random' }]);
  const args = ['disk', 'backup', '--vault', url, '--key-file', keyFile, '--source', src, '--disk-id', 'vm-disk', '--json'];
  const child = spawn(process.execPath, [BIN, ...args, '--bandwidth', '6M', '--concurrency', '2'], { stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  while ((await countBlocks(vaultDir)) < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const stored = await countBlocks(vaultDir);
  assert.ok(stored >= 10 && stored < 32, `killed too late or too early: ${stored} of 32 blocks stored`);
  const vault = await Vault.open(new FsStore(vaultDir), key);
  assert.equal(await vault.listBackups('vm-disk'), [], 'a killed backup must not publish a manifest');
  const rerun = cli([...args, '--parent', 'auto']);
  assert.is(rerun.code, 0, rerun.err);
  const r = JSON.parse(rerun.out) as { type: string; blocksUploaded: number; blocksReused: number };
  assert.is(r.type, 'full');
  assert.is(r.blocksUploaded, 32 - stored, 'the rerun re-uploaded blocks that were already stored');
  assert.is(r.blocksReused, stored);
  const out = join(dir, 'out.img');
  assert.is(cli(['disk', 'restore', '--vault', url, '--key-file', keyFile, '--disk-id', 'vm-disk', '--target', out]).code, 0);
  assert.ok(await sameBytes(src, out));
  assert.ok((await verifyVault(vault, { readData: true })).ok);
});

test.run();
