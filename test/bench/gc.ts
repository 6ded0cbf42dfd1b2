// GC benchmark: a filesystem vault (tmpfs) with N block objects, 90% referenced by manifests, 10% garbage.
// Prints the time and peak RSS of two GC passes (condemn, then delete) and of the pre-publish reference check
// of one disk (listing vs. HEADs), each in its own child process, and projects GC's memory for 10 TiB.
// Run: npx node test/bench/gc.ts [--blocks 1000000] [--disks 10] [--dir /dev/shm/tresor-gc-bench]
// Blocks are empty files: GC lists blocks and reads manifests; it never reads a block's content.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { secureReferences } from '../../operator/src/mover/secure.ts';
import { ID_BYTES } from '../../operator/src/vault/codec.ts';
import { FsStore } from '../../operator/src/vault/fs-store.ts';
import { DEFAULT_REF_MEMORY, gcVault } from '../../operator/src/vault/gc.ts';
import { allocMap } from '../../operator/src/vault/manifest.ts';
import { Vault } from '../../operator/src/vault/vault.ts';

const SELF = fileURLToPath(import.meta.url);
const KEY = Buffer.alloc(32, 7);
const BS = 4096;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}

const dir = arg('dir', '/dev/shm/tresor-gc-bench');
const root = join(dir, 'vault');
const mode = process.argv[2] ?? 'main';

async function setup(blocks: number, disks: number): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const vault = await Vault.init(new FsStore(root), KEY, BS);
  const referenced = Math.floor(blocks * 0.9);
  const perDisk = Math.ceil(referenced / disks);
  for (let d = 0; d < disks; d++) {
    const n = Math.min(perDisk, referenced - d * perDisk);
    const map = allocMap(n);
    for (let i = 0; i < n; i++) randomBytes(ID_BYTES).copy(map, i * ID_BYTES);
    for (let i = 0; i < n; i++) writeBlock(map.subarray(i * ID_BYTES, (i + 1) * ID_BYTES));
    await vault.putManifest({
      map,
      header: {
        format: 'tresor-disk-manifest', version: 1, vaultId: vault.config.vaultId, diskId: `disk${d}`, backupId: `20260101T000000000Z-00000${d}`,
        parentId: null, createdAt: new Date().toISOString(), diskSize: n * BS, blockSize: BS, type: 'full', reason: 'bench',
        stats: { bytesRead: 0, bytesUploaded: 0, blocksUploaded: 0, blocksReused: 0, zeroBlocks: 0, durationMs: 0 },
      },
    });
  }
  for (let i = referenced; i < blocks; i++) writeBlock(randomBytes(ID_BYTES));
}

function writeBlock(id: Buffer): void {
  const hex = id.toString('hex');
  const d = join(root, 'blocks', hex.slice(0, 2));
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, hex), '');
}

async function pass(): Promise<void> {
  const v = await Vault.open(new FsStore(root), KEY);
  const t0 = performance.now();
  const r = await gcVault(v, { graceMs: 0, marginMs: 0, force: true });
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ ms: Math.round(ms), maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), report: r }));
}

async function check(how: 'list' | 'head'): Promise<void> {
  const v = await Vault.open(new FsStore(root), KEY);
  const m = await v.getManifest('disk0', '20260101T000000000Z-000000');
  const t0 = performance.now();
  const r = await secureReferences({ vault: v, map: m.map, reupload: async () => {
    throw new Error('a block is missing');
  }, signal: new AbortController().signal, check: how });
  console.log(JSON.stringify({ how, ms: Math.round(performance.now() - t0), uniqueBlocks: r.uniqueBlocks, missing: r.missing, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

function child(args: string[]): Record<string, unknown> {
  const p = spawnSync(process.execPath, [SELF, ...args, '--dir', dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (p.status !== 0) throw new Error(`${args.join(' ')} failed: ${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

if (mode === 'pass') await pass();
else if (mode === 'check') await check(process.argv[3] as 'list' | 'head');
else {
  const blocks = Number(arg('blocks', '1000000'));
  const disks = Number(arg('disks', '10'));
  const t0 = performance.now();
  await setup(blocks, disks);
  console.log(`vault: ${blocks} blocks (${Math.floor(blocks * 0.9)} referenced by ${disks} manifests, rest garbage) in ${dir}, set up in ${Math.round((performance.now() - t0) / 1000)} s`);
  const baseline = child(['check', 'list']);
  const condemn = child(['pass']);
  const del = child(['pass']);
  const heads = child(['check', 'head']);
  const show = (name: string, r: Record<string, unknown>): void => {
    const rep = r.report as Record<string, number>;
    console.log(`${name}: ${(Number(r.ms) / 1000).toFixed(1)} s, peak RSS ${String(r.maxRssMiB)} MiB; seen ${rep.blocksSeen}, referenced ${rep.blocksReferenced}, condemned ${rep.blocksCondemned}, deleted ${rep.blocksDeleted}, shards ${rep.shards}`);
  };
  show('gc pass 1 (condemn)', condemn);
  show('gc pass 2 (delete)', del);
  console.log(`pre-publish check of one disk (${String(baseline.uniqueBlocks)} blocks) in this vault: listing ${(Number(baseline.ms) / 1000).toFixed(1)} s, HEAD per block ${(Number(heads.ms) / 1000).toFixed(1)} s`);
  // 10 TiB of referenced blocks at 1 MiB: 10.5 M ids; 8 B each in the shard sets, sealed maps ~32 B per id.
  const ids = 10 * 1024 * 1024;
  const shards = Math.min(256, Math.max(1, Math.ceil((ids * 32) / 4 / DEFAULT_REF_MEMORY)));
  console.log(`projection for 10 TiB referenced at 1 MiB blocks (${ids} ids, one manifest each): ${shards} shard(s) of <= ${Math.round((2 * 8 * ids) / shards / 1024 / 1024)} MiB of reference set each (64 MiB budget; at 64 KiB blocks, 168 M ids: ${Math.min(256, Math.ceil((16 * ids * 32) / 4 / DEFAULT_REF_MEMORY))} shards, same bound)`);
  rmSync(dir, { recursive: true, force: true });
}
