// `tresor vault keys|rotate-key|retire-key`: list a vault's keys, start a new data key (optionally under a new
// master key), and retire an old master key (ADR 0018).
import { access } from 'node:fs/promises';
import { createKeyFile, masterKeys, readKeyFile } from '../vault/keys.ts';
import { storeFromUrl } from '../vault/location.ts';
import { addMasterKey, retireMasterKey, rotateDataKey, type RotateReport } from '../vault/rotate.ts';
import { unlockVault } from '../vault/vault.ts';
import { optional, parseOptions, required, UsageError } from './args.ts';

type Opts = Record<string, string | boolean | undefined>;

function print(o: Opts, value: object, human: string): void {
  process.stdout.write(o.json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

function summary(r: RotateReport): string {
  return `vault ${r.vaultId}: new writes use data key ${r.currentDataKey} (${r.dataKeys} data keys, all still readable); master keys ${r.masterKeys.join(', ')}`;
}

/** `tresor vault keys`: the vault's master key ids and data keys (ids and creation times; never key bytes). */
export async function vaultKeys(argv: string[]): Promise<number> {
  const o = parseOptions(argv, ['vault', 'key-file', 'json']);
  const store = await storeFromUrl(required(o, 'vault'));
  const { config, masterId } = await unlockVault(store, await readKeyFile(required(o, 'key-file')));
  const value = {
    vaultId: config.vaultId,
    version: config.version,
    masterKeys: config.masterKeys.map((m) => ({ id: m.id, addedAt: m.addedAt, thisKey: m.id === masterId })),
    dataKeys: config.dataKeys.map((d) => ({ ...d, current: d.id === config.currentDataKey })),
  };
  print(o, value, [
    `vault ${config.vaultId} (format ${config.version})`,
    ...value.masterKeys.map((m) => `master key ${m.id}  added ${m.addedAt}${m.thisKey ? '  (this key file)' : ''}`),
    ...value.dataKeys.map((d) => `data key   ${d.id}  created ${d.createdAt}${d.current ? '  (current: new writes)' : ''}`),
  ].join('\n'));
  return 0;
}

/**
 * `tresor vault rotate-key`: a new data key for new writes. With --new-key-file (created when missing) the new
 * master key also wraps every existing key, so pods may switch Secrets at leisure; retire the old one afterwards.
 */
export async function vaultRotateKey(argv: string[]): Promise<number> {
  const o = parseOptions(argv, ['vault', 'key-file', 'new-key-file', 'json']);
  const store = await storeFromUrl(required(o, 'vault'));
  const master = await readKeyFile(required(o, 'key-file'));
  const newFile = optional(o, 'new-key-file');
  if (!newFile) {
    const r = await rotateDataKey(store, [master]);
    print(o, r, summary(r));
    return 0;
  }
  const exists = await access(newFile).then(() => true, () => false);
  const added = exists ? await readKeyFile(newFile) : await createKeyFile(newFile);
  if (added.equals(master)) throw new UsageError('--new-key-file holds the same key as --key-file');
  const r = await addMasterKey(store, master, added);
  print(o, { ...r, keyCreated: !exists }, `${summary(r)}\nadded master key ${r.addedMasterKey}${exists ? '' : ` (new key written to ${newFile})`}: ` +
    `put it in the vault's key Secret, then retire the old one with 'tresor vault retire-key --key-file ${newFile} --master-id ${r.masterKeys[0]}'`);
  return 0;
}

/** `tresor vault retire-key`: removes an old master key (by --master-id, or by its file with --retire-key-file). */
export async function vaultRetireKey(argv: string[]): Promise<number> {
  const o = parseOptions(argv, ['vault', 'key-file', 'master-id', 'retire-key-file', 'json']);
  const store = await storeFromUrl(required(o, 'vault'));
  const keeper = await readKeyFile(required(o, 'key-file'));
  const byId = optional(o, 'master-id');
  const byFile = optional(o, 'retire-key-file');
  if (!byId === !byFile) throw new UsageError('give exactly one of --master-id ID (from tresor vault keys) or --retire-key-file FILE');
  let retired = byId;
  if (byFile) {
    const { config } = await unlockVault(store, keeper);
    retired = masterKeys(await readKeyFile(byFile), config.vaultId).id;
  }
  const r = await retireMasterKey(store, keeper, retired as string);
  print(o, r, `${summary(r)}\nretired master key ${r.retiredMasterKey}: it no longer opens this vault`);
  return 0;
}
