// Block devices (loop devices over files): backup reads them whole and finds zero blocks by content,
// restore refuses a short device and writes zero blocks explicitly over old data. Needs root (losetup).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FsStore } from '../vault/fs-store.ts';
import { Vault } from '../vault/vault.ts';
import { backupDisk } from './backup.ts';
import { tempDir, writeImage } from './fixtures.ts';
import { restoreDisk } from './restore.ts';

const test = suite('mover: block devices');
const MiB = 1 << 20;
const isRoot = process.getuid?.() === 0;
const maybe = isRoot ? test : test.skip;
let dir = '';
let cleanup: () => Promise<void> = async () => {};
let vault: Vault;
const loops: string[] = [];

async function loopDevice(name: string, size: number, fill: 'random' | 'zeros'): Promise<string> {
  const file = join(dir, name);
  await writeImage(file, size, [{ offset: 0, length: size, fill }]);
  const dev = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
  loops.push(dev);
  return dev;
}

async function readDevice(dev: string, size: number): Promise<Buffer> {
  const fh = await open(dev, 'r');
  try {
    const b = Buffer.alloc(size);
    await fh.read(b, 0, size, 0);
    return b;
  } finally {
    await fh.close();
  }
}

test.before(async () => {
  if (!isRoot) return;
  ({ dir, cleanup } = await tempDir());
  vault = await Vault.init(new FsStore(join(dir, 'vault')), randomBytes(32));
});
test.after(async () => {
  for (const dev of loops) execFileSync('losetup', ['-d', dev]);
  await cleanup();
});

maybe('a device is sized with lseek, zero blocks are found by content, and it restores byte-exact', async () => {
  const src = await loopDevice('src.img', 8 * MiB, 'random');
  const fh = await open(src, 'r+');
  await fh.write(Buffer.alloc(3 * MiB), 0, 3 * MiB, 5 * MiB);
  await fh.close();
  const r = await backupDisk({ vault, source: src, diskId: 'dev' });
  assert.is(r.diskSize, 8 * MiB);
  assert.is(r.bytesRead, 8 * MiB, 'a device has no holes to skip: every block is read');
  assert.is(r.zeroBlocks, 3);
  assert.is(r.blocksUploaded, 5);
  const out = join(dir, 'out.img');
  await restoreDisk({ vault, diskId: 'dev', backupId: 'latest', target: out });
  assert.ok((await readFile(out)).equals(await readDevice(src, 8 * MiB)));
});

maybe('restore onto a short device fails naming both sizes', async () => {
  const short = await loopDevice('short.img', 4 * MiB, 'zeros');
  try {
    await restoreDisk({ vault, diskId: 'dev', backupId: 'latest', target: short });
    assert.unreachable('restored onto a short device');
  } catch (err) {
    assert.match((err as Error).message, new RegExp(`short target: ${short} has 4194304 bytes, the backup needs 8388608`));
  }
});

maybe('restore onto a device holding old data writes the zero blocks too', async () => {
  const target = await loopDevice('dirty.img', 8 * MiB, 'random');
  await restoreDisk({ vault, diskId: 'dev', backupId: 'latest', target });
  const src = loops[0] as string;
  assert.ok((await readDevice(target, 8 * MiB)).equals(await readDevice(src, 8 * MiB)), 'old bytes survived in zero blocks');
});

test.run();
