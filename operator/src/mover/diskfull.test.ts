// R2 (security-2026-12.md, M2): a full filesystem vault. A failed backup leaves no temp files, and forget
// and GC still run and free space. Needs a small real tmpfs (mount, so root); skipped where it cannot mount.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { forgetBackup } from '../vault/forget.ts';
import { FsStore } from '../vault/fs-store.ts';
import { gcVault } from '../vault/gc.ts';
import { verifyVault } from '../vault/verify.ts';
import { Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { tempDir, writeImage } from './fixtures.ts';

const test = suite('vault: full filesystem (R2)');
const MiB = 1 << 20;
let dir = '';
let mnt = '';
let mounted = false;
let cleanup: () => Promise<void> = async () => {};

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
  mnt = join(dir, 'tmpfs');
  await mkdir(mnt);
  mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]).status === 0;
  if (!mounted) console.log('  (skipped: cannot mount a 16 MiB tmpfs here; run as root to exercise a real full filesystem)');
});
test.after(async () => {
  if (mounted) spawnSync('umount', [mnt]);
  await cleanup();
});

async function tempFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.includes('.tmp-')) out.push(join(d, e.name));
    }
  };
  await walk(root);
  return out;
}

test('a full vault: the failed backup leaves no temp files; forget and GC still run and free the space', async () => {
  if (!mounted) return;
  const root = join(mnt, 'v');
  const vault = await Vault.init(new FsStore(root), randomBytes(32));
  const a = join(dir, 'a.img');
  const b = join(dir, 'b.img');
  await writeImage(a, 4 * MiB, [{ offset: 0, length: 4 * MiB, fill: 'random' }]);
  await writeImage(b, 12 * MiB, [{ offset: 0, length: 12 * MiB, fill: 'random' }]);
  const ra = await backupDisk({ vault, source: a, diskId: 'a' });
  try {
    await backupDisk({ vault, source: b, diskId: 'b' });
    assert.unreachable('12 MiB fit into what was left of 16 MiB');
  } catch (err) {
    assert.match((err as Error).message, /ENOSPC/);
  }
  assert.equal(await tempFiles(root), [], 'failed writes left temp files');
  // Fill what is left, to the last byte: nothing but the reserve stands between GC and a full volume.
  try {
    await writeFile(join(mnt, 'filler'), Buffer.alloc(16 * MiB));
  } catch {
    /* ENOSPC: full now */
  }
  const f = await forgetBackup(vault, 'a', ra.backupId);
  assert.is(f.outcome, 'forgotten');
  // The vault's only backup was forgotten: an empty listing is real here.
  const harsh = { graceMs: 0, marginMs: 0, force: true, allowEmpty: true } as const;
  const first = await gcVault(vault, harsh);
  assert.ok(first.blocksCondemned >= 4, `condemned ${first.blocksCondemned}`);
  const second = await gcVault(vault, harsh);
  assert.ok(second.blocksDeleted >= 4, `deleted ${second.blocksDeleted}: a's 4 blocks and b's uploaded ones`);
  assert.ok((await verifyVault(vault, { readData: true })).ok);
  assert.equal(await tempFiles(root), []);
});

test.run();
