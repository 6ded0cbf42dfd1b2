// Key rotation (ADR 0018): a new data key for new writes; a new master key that wraps every key the old one
// wraps; retiring an old master key. Old objects stay readable: their data keys stay in the config.
import { withMasterKey, withNewDataKey, withoutMasterKey, type VaultConfig } from './config.ts';
import { masterKeys } from './keys.ts';
import type { ObjectStore } from './store.ts';
import { CONFIG_KEY, unlockVault } from './vault.ts';

/** What a rotation did, for the CLI to print. */
export interface RotateReport {
  readonly vaultId: string;
  /** The data key new writes use from now on. */
  readonly currentDataKey: string;
  readonly dataKeys: number;
  /** Ids of the master keys the config lists after the change. */
  readonly masterKeys: readonly string[];
  readonly addedMasterKey?: string;
  readonly retiredMasterKey?: string;
}

function report(c: VaultConfig, extra: Partial<RotateReport> = {}): RotateReport {
  return { vaultId: c.vaultId, currentDataKey: c.currentDataKey, dataKeys: c.dataKeys.length, masterKeys: c.masterKeys.map((m) => m.id), ...extra };
}

/**
 * Writes a changed config and reads it back: a concurrent rotation that overwrote ours is reported instead of
 * silently losing a key. Writers already running keep their opened config; the keys they use stay listed.
 */
async function commit(store: ObjectStore, master: Buffer, next: VaultConfig): Promise<void> {
  await store.put(CONFIG_KEY, Buffer.from(JSON.stringify(next, null, 2)));
  await store.sync();
  const back = await unlockVault(store, master);
  if (back.config.currentDataKey !== next.currentDataKey || back.config.masterKeys.length !== next.masterKeys.length) {
    throw new Error(`the config of vault ${next.vaultId} changed while it was being rewritten (another rotation?): run 'tresor vault keys' and rotate again`);
  }
}

/** Makes a new random data key current; every master key of the vault must be among `masters`. */
export async function rotateDataKey(store: ObjectStore, masters: readonly Buffer[]): Promise<RotateReport> {
  const [first] = masters;
  if (!first) throw new Error('rotateDataKey needs the vault\'s master key');
  const { config, unwrapped } = await unlockVault(store, first);
  if (config.masterKeys.length > masters.length) {
    throw new Error(`vault ${config.vaultId} has ${config.masterKeys.length} master keys (${config.masterKeys.map((m) => m.id).join(', ')}): finish the master key change with 'tresor vault retire-key' before rotating the data key`);
  }
  const next = withNewDataKey(config, unwrapped, masters).config;
  await commit(store, first, next);
  return report(next);
}

/**
 * Adds `added` as a master key (it wraps the root secret and every data key) and makes a fresh data key current,
 * wrapped under both. Pods still holding the old master key keep working until it is retired.
 */
export async function addMasterKey(store: ObjectStore, master: Buffer, added: Buffer): Promise<RotateReport> {
  const { config, unwrapped } = await unlockVault(store, master);
  if (config.masterKeys.length > 1) {
    throw new Error(`vault ${config.vaultId} already has ${config.masterKeys.length} master keys: retire the old one ('tresor vault retire-key') before adding another`);
  }
  const both = withMasterKey(config, unwrapped, [master], added);
  const next = withNewDataKey(both, unwrapped, [master, added]).config;
  await commit(store, added, next);
  return report(next, { addedMasterKey: masterKeys(added, config.vaultId).id });
}

/** Removes master key `retired` (an id as `tresor vault keys` lists it) with `keeper`, the master key that stays. */
export async function retireMasterKey(store: ObjectStore, keeper: Buffer, retired: string): Promise<RotateReport> {
  const { config } = await unlockVault(store, keeper);
  const next = withoutMasterKey(config, keeper, retired);
  await commit(store, keeper, next);
  return report(next, { retiredMasterKey: retired });
}
