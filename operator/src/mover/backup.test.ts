// Backup and restore through a filesystem vault, on real image files: byte-exact restores and incremental sizes.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FsStore } from '../vault/fs-store.ts';
import { Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { changeBlocks, imageKinds, sameBytes, tempDir, writeImage } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

const test = suite('mover: backup and restore');
const MiB = 1 << 20;
let dir = '';
let cleanup: () => Promise<void> = async () => {};
let vault: Vault;

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
  vault = await Vault.init(new FsStore(join(dir, 'vault')), randomBytes(32));
});
test.after(async () => cleanup());

for (const [kind, img] of Object.entries(imageKinds(24))) {
  test(`restore is byte-exact: ${kind} (${img.size} bytes)`, async () => {
    const src = join(dir, `${kind}.img`);
    await writeImage(src, img.size, img.segments);
    const diskId = kind.replace(/ /g, '-');
    const r = await backupDisk({ vault, source: src, diskId });
    assert.is(r.type, 'full');
    assert.is(r.diskSize, img.size);
    const out = join(dir, `${kind}.out`);
    await restoreDisk({ vault, diskId, backupId: r.backupId, target: out });
    assert.ok(await sameBytes(src, out), 'restored image differs from the source');
    if (kind.startsWith('all-zero')) assert.is(r.bytesUploaded, 0, 'zero blocks must never be stored');
  });
}

test('progress: JSON-ready samples end with every byte done', async () => {
  const src = join(dir, 'progress.img');
  await writeImage(src, 20 * MiB + 3, [{ offset: 0, length: 20 * MiB + 3, fill: 'random' }]);
  const samples: { bytesDone: number; bytesTotal: number }[] = [];
  await backupDisk({ vault, source: src, diskId: 'progress', onProgress: (p) => samples.push(p) });
  const last = samples.at(-1);
  assert.ok(last, 'no progress reported');
  assert.is(last.bytesDone, 20 * MiB + 3);
  assert.is(last.bytesTotal, 20 * MiB + 3);
});

test('holes are not read and zero blocks are not stored', async () => {
  const src = join(dir, 'holes.img');
  await writeImage(src, 64 * MiB, [{ offset: 10 * MiB, length: 2 * MiB, fill: 'random' }]);
  const r = await backupDisk({ vault, source: src, diskId: 'holes' });
  assert.is(r.bytesRead, 2 * MiB, 'only the allocated extent is read');
  assert.is(r.blocksUploaded, 2);
});

test('a 1% change uploads about 1% (hash-compare), and the incremental restores byte-exact', async () => {
  const src = join(dir, 'inc.img');
  const size = 100 * MiB;
  await writeImage(src, size, [{ offset: 0, length: size, fill: 'random' }]);
  const full = await backupDisk({ vault, source: src, diskId: 'inc' });
  await changeBlocks(src, size, MiB, 1);
  const inc = await backupDisk({ vault, source: src, diskId: 'inc', parent: 'auto' });
  assert.is(inc.type, 'incremental-hash');
  assert.is(inc.parentId, full.backupId);
  assert.is(inc.blocksUploaded, 1);
  assert.ok(inc.bytesUploaded < full.bytesUploaded * 0.011, `uploaded ${inc.bytesUploaded} of ${full.bytesUploaded}`);
  const out = join(dir, 'inc.out');
  await restoreDisk({ vault, diskId: 'inc', backupId: 'latest', target: out });
  assert.ok(await sameBytes(src, out));
  // The parent still restores to the old content, which differs now.
  await restoreDisk({ vault, diskId: 'inc', backupId: full.backupId, target: out });
  assert.not.ok(await sameBytes(src, out));
});

test('hash-compare: a block that became a hole since the parent restores as zeros, not as the old data', async () => {
  const src = join(dir, 'punched.img');
  await writeImage(src, 8 * MiB, [{ offset: 0, length: 8 * MiB, fill: 'random' }]);
  await backupDisk({ vault, source: src, diskId: 'punched' });
  const { readFile: read, writeFile: write } = await import('node:fs/promises');
  const old = await read(src);
  // Rewrite the image with block 3 as a hole (what a discard inside the guest leaves behind).
  await write(src, Buffer.alloc(0));
  await writeImage(src, 8 * MiB, []);
  const { open } = await import('node:fs/promises');
  const fh = await open(src, 'r+');
  await fh.write(old, 0, 3 * MiB, 0);
  await fh.write(old, 4 * MiB, 4 * MiB, 4 * MiB);
  await fh.close();
  const inc = await backupDisk({ vault, source: src, diskId: 'punched', parent: 'auto' });
  assert.is(inc.type, 'incremental-hash');
  assert.is(inc.bytesRead, 7 * MiB);
  const out = join(dir, 'punched.out');
  await restoreDisk({ vault, diskId: 'punched', backupId: 'latest', target: out });
  assert.ok(await sameBytes(src, out), 'the hole came back with the parent block');
});

test('a changed-block list reads only the listed blocks, and the result restores byte-exact', async () => {
  const src = join(dir, 'cbt.img');
  const size = 100 * MiB + 5000;
  await writeImage(src, size, [{ offset: 0, length: size, fill: 'random' }]);
  await backupDisk({ vault, source: src, diskId: 'cbt' });
  const ranges = await changeBlocks(src, size, MiB, 3);
  const inc = await backupDisk({ vault, source: src, diskId: 'cbt', parent: 'auto', changed: ranges });
  assert.is(inc.type, 'incremental-changed-blocks');
  // The changed blocks plus the partial last block (which a changed-block list cannot be trusted to cover).
  assert.ok(inc.bytesRead <= 4 * MiB, `read ${inc.bytesRead}`);
  assert.is(inc.blocksUploaded, 3);
  const out = join(dir, 'cbt.out');
  await restoreDisk({ vault, diskId: 'cbt', backupId: 'latest', target: out });
  assert.ok(await sameBytes(src, out));
});

test('a changed block that became zeros is recorded as zeros in changed-block mode', async () => {
  const src = join(dir, 'cbz.img');
  await writeImage(src, 8 * MiB, [{ offset: 0, length: 8 * MiB, fill: 'random' }]);
  await backupDisk({ vault, source: src, diskId: 'cbz' });
  const { open } = await import('node:fs/promises');
  const fh = await open(src, 'r+');
  await fh.write(Buffer.alloc(MiB), 0, MiB, 3 * MiB);
  await fh.close();
  const inc = await backupDisk({ vault, source: src, diskId: 'cbz', parent: 'auto', changed: [{ start: 3 * MiB, end: 4 * MiB }] });
  assert.is(inc.zeroBlocks, 1);
  const out = join(dir, 'cbz.out');
  await restoreDisk({ vault, diskId: 'cbz', backupId: 'latest', target: out });
  assert.ok(await sameBytes(src, out));
});

test('a changed-block list without a parent falls back to full and says why', async () => {
  const src = join(dir, 'cbf.img');
  await writeImage(src, 4 * MiB, [{ offset: 0, length: 4 * MiB, fill: 'text' }]);
  const r = await backupDisk({ vault, source: src, diskId: 'cbf', parent: 'auto', changed: [{ start: 0, end: 10 }] });
  assert.is(r.type, 'full');
  assert.match(r.reason, /changed-block list ignored: no earlier backup/);
});

test('a missing parent is a clear error', async () => {
  const src = join(dir, 'mp.img');
  await writeImage(src, MiB, []);
  try {
    await backupDisk({ vault, source: src, diskId: 'mp', parent: '20200101T000000000Z-000000' });
    assert.unreachable('backup with a missing parent succeeded');
  } catch (err) {
    assert.match((err as Error).message, /missing parent: backup 20200101T000000000Z-000000 of disk mp/);
  }
});

test('identical disks deduplicate: the second upload stores nothing new', async () => {
  const a = join(dir, 'dedup-a.img');
  await writeImage(a, 16 * MiB, [{ offset: 0, length: 16 * MiB, fill: 'random' }]);
  await backupDisk({ vault, source: a, diskId: 'dedup-a' });
  const r = await backupDisk({ vault, source: a, diskId: 'dedup-b' });
  assert.is(r.blocksUploaded, 0);
  assert.is(r.blocksReused, 16);
});

test('a restore onto a short block device is refused', async () => {
  // Regular files grow; the short-target check applies to devices, which tests cannot create: check the message path via a directory.
  try {
    await restoreDisk({ vault, diskId: 'dedup-a', backupId: 'latest', target: dir });
    assert.unreachable('restore onto a directory succeeded');
  } catch (err) {
    assert.match((err as Error).message, /neither a regular file nor a block device/);
  }
});

test.run();
