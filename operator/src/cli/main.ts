// `tresor` command line: vault init|check|keys|rotate-key|retire-key|verify|gc|forget, disk backup|restore|list. Used by the transfer and restore pods and by people.
import { access } from 'node:fs/promises';
import { readChangedBlocks } from '../mover/changed-blocks.ts';
import { parseSize } from '../mover/limits.ts';
import { jsonLines, type ProgressSink } from '../mover/progress.ts';
import { createKeyFile, readKeyFile } from '../vault/keys.ts';
import { storeFromUrl } from '../vault/location.ts';
import { Vault } from '../vault/vault.ts';
import { optional, parseCount, parseDuration, parseOptions, required, UsageError } from './args.ts';

const USAGE = `usage: tresor <group> <command> [options]

  tresor vault init    --vault URL --key-file FILE [--block-size 1M]   (creates FILE with a new key if missing)
  tresor vault check   --vault URL --key-file FILE [--json]   (opens the vault and checks the key; reads nothing else)
  tresor vault keys    --vault URL --key-file FILE [--json]   (master key ids and data keys; never key bytes)
  tresor vault rotate-key --vault URL --key-file FILE [--new-key-file NEW] [--json]
                       (new writes use a new data key; old backups stay readable. With NEW (created if missing):
                        NEW becomes a second master key wrapping every key; switch the Secret to it, then:)
  tresor vault retire-key --vault URL --key-file NEW (--master-id ID | --retire-key-file OLD) [--json]
  tresor vault verify  --vault URL --key-file FILE [--read-data] [--repair] [--json]
  tresor vault gc      --vault URL --key-file FILE [--grace 1h] [--margin 1h] [--force] [--allow-empty] [--dry-run] [--json]
  tresor vault forget  --vault URL --key-file FILE --disk-id ID --backup ID [--retention-lock-days N] [--json]
                       (removes one backup's manifest; GC reclaims its blocks later. Exit 3: refused for now,
                        by the retention lock or a backup of the disk in flight; try again later)
  tresor disk backup   --vault URL --key-file FILE --source PATH --disk-id ID
                       [--parent ID|auto|none] [--changed-blocks FILE] [--concurrency N]
                       [--bandwidth 50M] [--progress] [--progress-events] [--json]
  tresor disk restore  --vault URL --key-file FILE --disk-id ID --target PATH [--backup ID|latest] [--progress] [--progress-events] [--json]
  tresor disk list     --vault URL --key-file FILE --disk-id ID [--json]

  URL: file:///absolute/path  or  s3://bucket/prefix?endpoint=http://host:port  (credentials from AWS_* variables)
  --changed-blocks FILE: one changed byte range per line, "OFFSET LENGTH" or {"byteOffset":N,"sizeBytes":N}
  --progress: JSON lines {"event":"progress","bytesDone":N,"bytesTotal":N} on stderr
  --progress-events: keep an Event on the pod named by POD_NAME/POD_NAMESPACE up to date with the progress
                     (best effort; the transfer pods of the operator use it)
`;

type Opts = Record<string, string | boolean | undefined>;
const COMMON = ['vault', 'key-file', 'json'];

async function openVault(o: Opts): Promise<Vault> {
  const store = await storeFromUrl(required(o, 'vault'));
  return Vault.open(store, await readKeyFile(required(o, 'key-file')));
}

function print(o: Opts, value: object, human: string): void {
  process.stdout.write(o.json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

async function vaultInit(argv: string[]): Promise<number> {
  const o = parseOptions(argv, [...COMMON, 'block-size']);
  const keyFile = required(o, 'key-file');
  const store = await storeFromUrl(required(o, 'vault'));
  const exists = await access(keyFile).then(() => true, () => false);
  const key = exists ? await readKeyFile(keyFile) : await createKeyFile(keyFile);
  const bs = optional(o, 'block-size');
  const v = await Vault.init(store, key, bs ? parseSize(bs) : undefined);
  print(o, { vaultId: v.config.vaultId, blockSize: v.config.blockSize, keyCreated: !exists }, `created vault ${v.config.vaultId} at ${store.location}${exists ? '' : ` with a new key in ${keyFile}`}`);
  return 0;
}

async function vaultCheck(argv: string[]): Promise<number> {
  const o = parseOptions(argv, COMMON);
  const v = await openVault(o);
  const r = { vaultId: v.config.vaultId, version: v.config.version, blockSize: v.config.blockSize, masterKey: v.masterId, dataKey: v.config.currentDataKey };
  print(o, r, `OK: vault ${r.vaultId} (format ${r.version}, block size ${r.blockSize}) at ${v.store.location}; its config authenticates under master key ${r.masterKey}`);
  return 0;
}

async function vaultVerify(argv: string[]): Promise<number> {
  const o = parseOptions(argv, [...COMMON, 'read-data', 'repair']);
  const { verifyVault } = await import('../vault/verify.ts');
  const r = await verifyVault(await openVault(o), { readData: o['read-data'] === true, repair: o.repair === true });
  const lines = [
    `${r.ok ? 'OK' : 'DAMAGED'}: ${r.manifests} manifests, ${r.blocksReferenced} blocks referenced, ${r.blocksChecked} read back`,
    ...r.badManifests.map((b) => `bad manifest ${b.name}: ${b.error}`),
    ...r.missingBlocks.map((id) => `missing block ${id}`),
    ...r.corruptBlocks.map((c) => `corrupt block ${c.id}: ${c.error}`),
    ...r.damagedBackups.map((b) => `damaged backup ${b}`),
    ...(r.quarantined ? [`moved ${r.quarantined} corrupt blocks to quarantine/; run 'tresor disk backup --parent none' of the damaged disks to re-upload them`] : []),
  ];
  print(o, r, lines.join('\n'));
  return r.ok ? 0 : 1;
}

async function vaultGc(argv: string[]): Promise<number> {
  const o = parseOptions(argv, [...COMMON, 'grace', 'margin', 'force', 'allow-empty', 'dry-run']);
  const grace = optional(o, 'grace');
  const margin = optional(o, 'margin');
  const { gcVault } = await import('../vault/gc.ts');
  const r = await gcVault(await openVault(o), {
    ...(grace ? { graceMs: parseDuration(grace) } : {}),
    ...(margin ? { marginMs: parseDuration(margin) } : {}),
    force: o.force === true,
    allowEmpty: o['allow-empty'] === true,
    dryRun: o['dry-run'] === true,
  });
  print(o, r, r.deferred ? `gc deferred: ${r.reason}` : `gc: ${r.blocksDeleted} of ${r.blocksSeen} blocks deleted (${r.bytesDeleted} bytes), ${r.blocksCondemned} newly condemned (deleted by a pass after the margin if still unreferenced), ${r.keptForGrace} kept for the grace period`);
  return 0;
}

async function vaultForget(argv: string[]): Promise<number> {
  const o = parseOptions(argv, [...COMMON, 'disk-id', 'backup', 'retention-lock-days']);
  const days = optional(o, 'retention-lock-days');
  const { forgetBackup } = await import('../vault/forget.ts');
  const r = await forgetBackup(await openVault(o), required(o, 'disk-id'), required(o, 'backup'), {
    retentionLockDays: days && days !== '0' ? parseCount(days, 'retention-lock-days') : 0,
  });
  print(o, r, `${r.outcome}: ${r.reason}`);
  return r.outcome === 'forgotten' || r.outcome === 'absent' ? 0 : 3;
}

/** The progress sinks the options ask for, and how to close them once the transfer ended. */
async function progressSinks(o: Opts): Promise<{ sink: ProgressSink | undefined; close(): Promise<void> }> {
  const reporter = o['progress-events'] ? (await import('./progress-events.ts')).podProgressReporter(process.env) : undefined;
  const sinks = [...(o.progress ? [jsonLines()] : []), ...(reporter ? [reporter.sink] : [])];
  return {
    sink: sinks.length === 0 ? undefined : (p) => sinks.forEach((s) => s(p)),
    close: async () => reporter?.close(),
  };
}

async function diskBackup(argv: string[]): Promise<number> {
  const o = parseOptions(argv, [...COMMON, 'source', 'disk-id', 'parent', 'changed-blocks', 'concurrency', 'bandwidth', 'progress', 'progress-events']);
  const source = required(o, 'source');
  await access(source).catch(() => {
    throw new Error(`cannot read source ${source}: no such file or device`);
  });
  const changedFile = optional(o, 'changed-blocks');
  const concurrency = optional(o, 'concurrency');
  const bandwidth = optional(o, 'bandwidth');
  // Subcommand modules load on demand: a pod's start-up time is part of every backup's duration.
  const { backupDisk } = await import('../mover/backup.ts');
  const progress = await progressSinks(o);
  const r = await backupDisk({
    vault: await openVault(o),
    source,
    diskId: required(o, 'disk-id'),
    parent: optional(o, 'parent'),
    changed: changedFile ? await readChangedBlocks(changedFile) : undefined,
    ...(concurrency ? { uploadConcurrency: parseCount(concurrency, 'concurrency') } : {}),
    ...(bandwidth ? { bandwidthBytesPerSecond: parseSize(bandwidth) } : {}),
    onProgress: progress.sink,
  }).finally(() => progress.close());
  print(o, r, `backup ${r.backupId} of ${r.diskId}: ${r.type} (${r.reason}); read ${r.bytesRead} bytes, uploaded ${r.bytesUploaded} in ${r.blocksUploaded} blocks, ${r.durationMs} ms`);
  return 0;
}

async function diskRestore(argv: string[]): Promise<number> {
  const o = parseOptions(argv, [...COMMON, 'disk-id', 'backup', 'target', 'concurrency', 'progress', 'progress-events']);
  const concurrency = optional(o, 'concurrency');
  const { restoreDisk } = await import('../mover/restore.ts');
  const progress = await progressSinks(o);
  const r = await restoreDisk({
    vault: await openVault(o),
    diskId: required(o, 'disk-id'),
    backupId: optional(o, 'backup') ?? 'latest',
    target: required(o, 'target'),
    ...(concurrency ? { concurrency: parseCount(concurrency, 'concurrency') } : {}),
    onProgress: progress.sink,
  }).finally(() => progress.close());
  print(o, r, `restored ${r.diskId}/${r.backupId} (${r.diskSize} bytes) to ${required(o, 'target')} in ${r.durationMs} ms`);
  return 0;
}

async function diskList(argv: string[]): Promise<number> {
  const o = parseOptions(argv, [...COMMON, 'disk-id']);
  const v = await openVault(o);
  const diskId = required(o, 'disk-id');
  const out = [];
  for (const id of await v.listBackups(diskId)) {
    const h = (await v.getManifest(diskId, id)).header;
    out.push({ backupId: id, parentId: h.parentId, type: h.type, createdAt: h.createdAt, diskSize: h.diskSize });
  }
  print(o, out, out.map((b) => `${b.backupId}  ${b.type}  ${b.diskSize} bytes  parent ${b.parentId ?? '-'}`).join('\n'));
  return 0;
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  'vault init': vaultInit,
  'vault check': vaultCheck,
  'vault keys': async (argv) => (await import('./vault-keys.ts')).vaultKeys(argv),
  'vault rotate-key': async (argv) => (await import('./vault-keys.ts')).vaultRotateKey(argv),
  'vault retire-key': async (argv) => (await import('./vault-keys.ts')).vaultRetireKey(argv),
  'vault verify': vaultVerify,
  'vault gc': vaultGc,
  'vault forget': vaultForget,
  'disk backup': diskBackup,
  'disk restore': diskRestore,
  'disk list': diskList,
};

/** Runs the CLI and returns the exit code: 0 ok, 1 failed (or verify found damage), 2 bad usage. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'snapshot') return (await import('./snapshot.ts')).snapshotCommand(argv.slice(1));
  const [group, cmd, ...rest] = argv;
  if (!group || group === '--help' || group === 'help') {
    process.stdout.write(USAGE);
    return group ? 0 : 2;
  }
  const fn = COMMANDS[`${group} ${cmd ?? ''}`];
  if (!fn) {
    process.stderr.write(`tresor: unknown command '${[group, cmd].filter(Boolean).join(' ')}'\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return await fn(rest);
  } catch (err) {
    process.stderr.write(`tresor ${group} ${cmd}: error: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
