// The vault config object: plaintext JSON, authenticated by a MAC under every master key it lists, holding the
// wrapped root secret and data keys (ADR 0017). A bucket writer without a master key can read it but not change it.
import { randomBytes } from 'node:crypto';
import { keyIdHex } from './codec.ts';
import { deriveKeys, KEY_BYTES, keyRing, mac, macEquals, masterKeys, newKeyId, unwrapKey, type VaultKeys, wrapKey } from './keys.ts';

/**
 * The one vault format version (ADR 0017). 2: authenticated config with wrapped keys, key ids and one-object
 * keys in every sealed object, keyed manifest names. Later format changes of the data path bump this constant.
 */
export const VAULT_FORMAT_VERSION = 2;

/** Smallest and largest block size a vault may have. */
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 64 * 1024 * 1024;

/** A data key as the config lists it (its wrapped bytes live in each master key's entry). */
export interface DataKeyInfo {
  readonly id: string;
  readonly createdAt: string;
}

/** One master key's entry: what it wraps, and its MAC over the whole config. */
export interface MasterKeyEntry {
  readonly id: string;
  readonly addedAt: string;
  /** The vault's root secret, wrapped under this master key. */
  readonly root: string;
  /** Every data key, by id, wrapped under this master key. */
  readonly dataKeys: Readonly<Record<string, string>>;
  /** HMAC-SHA256 of the canonical config (with every `mac` left out) under this master key's config MAC key. */
  readonly mac: string;
}

/** The vault's config object. */
export interface VaultConfig {
  readonly format: 'tresor-vault';
  readonly version: typeof VAULT_FORMAT_VERSION;
  readonly vaultId: string;
  readonly blockSize: number;
  readonly createdAt: string;
  readonly currentDataKey: string;
  readonly dataKeys: readonly DataKeyInfo[];
  readonly masterKeys: readonly MasterKeyEntry[];
}

/** Why a config was refused; callers map the kind to their own reasons (CLI text, Ready condition). */
export type ConfigProblem = 'not-a-vault' | 'unsupported-version' | 'wrong-key' | 'tampered';

/** A config that cannot be used with this key, and why. */
export class VaultConfigError extends Error {
  readonly problem: ConfigProblem;
  readonly foundVersion?: number;
  constructor(problem: ConfigProblem, message: string, foundVersion?: number) {
    super(message);
    this.name = 'VaultConfigError';
    this.problem = problem;
    if (foundVersion !== undefined) this.foundVersion = foundVersion;
  }
}

/** Throws unless a block size is a power of two in the allowed range. */
export function checkBlockSize(blockSize: unknown): asserts blockSize is number {
  if (typeof blockSize !== 'number' || !Number.isInteger(Math.log2(blockSize)) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new Error(`bad block size ${String(blockSize)}: use a power of two from 4 KiB to 64 MiB`);
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The bytes every master key's MAC covers: the whole config, with the MACs themselves left out. */
function macBody(c: VaultConfig): string {
  return canonical({ ...c, masterKeys: c.masterKeys.map((m) => ({ ...m, mac: undefined })) });
}

const rootAad = (vaultId: string): string => `tresor/v2/${vaultId}/root`;
const dataAad = (vaultId: string, id: string): string => `tresor/v2/${vaultId}/data-key/${id}`;

/** Secrets a config's holder knows once it opened it with one master key. */
export interface Unwrapped {
  readonly root: Buffer;
  readonly dataKeys: ReadonlyMap<string, Buffer>;
}

/** Re-signs a config: every master in `masters` (by its raw key) gets a fresh MAC; the config must list exactly them. */
function signed(c: Omit<VaultConfig, 'masterKeys'> & { masterKeys: MasterKeyEntry[] }, masters: readonly Buffer[]): VaultConfig {
  const byId = new Map(masters.map((m) => [masterKeys(m, c.vaultId).id, masterKeys(m, c.vaultId)] as const));
  const missing = c.masterKeys.filter((e) => !byId.has(e.id)).map((e) => e.id);
  if (missing.length > 0) throw new Error(`cannot sign the config of vault ${c.vaultId}: the keys of master key(s) ${missing.join(', ')} were not given`);
  const body = macBody(c);
  return { ...c, masterKeys: c.masterKeys.map((e) => ({ ...e, mac: mac(byId.get(e.id)!.configMac, body) })) };
}

/** The entry of a master key wrapping `u` (its MAC is filled in by `signed`). */
function entryFor(master: Buffer, vaultId: string, u: Unwrapped, addedAt: string): MasterKeyEntry {
  const mk = masterKeys(master, vaultId);
  const dataKeys: Record<string, string> = {};
  for (const [id, key] of u.dataKeys) dataKeys[id] = wrapKey(mk.kek, key, dataAad(vaultId, id));
  return { id: mk.id, addedAt, root: wrapKey(mk.kek, u.root, rootAad(vaultId)), dataKeys, mac: '' };
}

/** A new config with a fresh vault id, root secret and first data key, wrapped under `master`. */
export function newConfig(master: Buffer, blockSize: number, now = new Date()): { config: VaultConfig; unwrapped: Unwrapped } {
  checkBlockSize(blockSize);
  const vaultId = randomBytes(16).toString('hex');
  const keyId = keyIdHex(newKeyId([]));
  const unwrapped: Unwrapped = { root: randomBytes(KEY_BYTES), dataKeys: new Map([[keyId, randomBytes(KEY_BYTES)]]) };
  const at = now.toISOString();
  const config = signed({
    format: 'tresor-vault', version: VAULT_FORMAT_VERSION, vaultId, blockSize, createdAt: at,
    currentDataKey: keyId, dataKeys: [{ id: keyId, createdAt: at }], masterKeys: [entryFor(master, vaultId, unwrapped, at)],
  }, [master]);
  return { config, unwrapped };
}

function shapeOk(c: VaultConfig): boolean {
  return typeof c.vaultId === 'string' && /^[0-9a-f]{32}$/.test(c.vaultId) && typeof c.currentDataKey === 'string' &&
    Array.isArray(c.dataKeys) && Array.isArray(c.masterKeys) &&
    c.masterKeys.every((m) => m && typeof m.id === 'string' && typeof m.root === 'string' && typeof m.mac === 'string' && m.dataKeys && typeof m.dataKeys === 'object') &&
    c.dataKeys.every((d) => d && typeof d.id === 'string' && /^[0-9a-f]{8}$/.test(d.id));
}

/** Parses a config object's bytes; refuses what is not a Tresor vault of this format version. */
export function parseConfig(raw: Buffer, where: string): VaultConfig {
  let c: VaultConfig;
  try {
    c = JSON.parse(raw.toString('utf8')) as VaultConfig;
  } catch {
    throw new VaultConfigError('not-a-vault', `${where} has a config object that is not a Tresor vault config (not JSON)`);
  }
  if (!c || typeof c !== 'object' || c.format !== 'tresor-vault') throw new VaultConfigError('not-a-vault', `${where} has a config object that is not a Tresor vault config`);
  const v = (c as { version?: unknown }).version;
  if (v !== VAULT_FORMAT_VERSION) {
    const found = typeof v === 'number' ? v : undefined;
    const newer = found !== undefined && found > VAULT_FORMAT_VERSION;
    throw new VaultConfigError('unsupported-version', `unsupported vault format: ${where} holds vault format version ${String(v)}; this Tresor reads format version ${VAULT_FORMAT_VERSION} only: ` +
      (newer ? 'upgrade Tresor' : `no migration exists, so create a new vault with 'tresor vault init' for new backups and restore older ones with the Tresor release that wrote them`), found);
  }
  if (!shapeOk(c)) throw new VaultConfigError('tampered', `vault config not authentic: ${where} has a format ${VAULT_FORMAT_VERSION} config with missing or malformed fields: it was damaged or edited`);
  return c;
}

/**
 * Authenticates a parsed config with one master key and unwraps its secrets. Errors say whether the key is
 * not one of the vault's master keys or the config was changed by someone without a key.
 */
export function unlockConfig(c: VaultConfig, master: Buffer, where: string): { keys: VaultKeys; unwrapped: Unwrapped; masterId: string } {
  const mk = masterKeys(master, c.vaultId);
  const entry = c.masterKeys.find((e) => e.id === mk.id);
  if (!entry) {
    throw new VaultConfigError('wrong-key', `wrong key for vault ${c.vaultId} at ${where}: the key is not one of its master keys (${c.masterKeys.map((e) => e.id).join(', ') || 'none'}); use a key the vault was created or re-keyed with`);
  }
  if (!macEquals(mac(mk.configMac, macBody(c)), entry.mac)) {
    throw new VaultConfigError('tampered', `vault config not authentic: the config of vault ${c.vaultId} at ${where} does not authenticate under its master key ${mk.id}: someone without the key changed it (block size, keys or ids); do not write to this vault until the config is restored from a copy`);
  }
  const bad = (what: string): VaultConfigError => new VaultConfigError('tampered', `vault config not authentic: the config of vault ${c.vaultId} at ${where} authenticates but ${what}`);
  try {
    checkBlockSize(c.blockSize);
  } catch (err) {
    throw bad((err as Error).message);
  }
  const root = unwrapKey(mk.kek, entry.root, rootAad(c.vaultId));
  if (!root) throw bad(`its root secret does not unwrap under master key ${mk.id}`);
  const dataKeys = new Map<string, Buffer>();
  const ring = new Map<number, Buffer>();
  for (const { id } of c.dataKeys) {
    const wrapped = entry.dataKeys[id];
    const key = wrapped === undefined ? undefined : unwrapKey(mk.kek, wrapped, dataAad(c.vaultId, id));
    if (!key) throw bad(`data key ${id} is not wrapped under master key ${mk.id}`);
    dataKeys.set(id, key);
    ring.set(Number.parseInt(id, 16), key);
  }
  if (!dataKeys.has(c.currentDataKey)) throw bad(`its current data key ${c.currentDataKey} is not among its data keys`);
  return { keys: deriveKeys(root, c.vaultId, keyRing(ring, Number.parseInt(c.currentDataKey, 16))), unwrapped: { root, dataKeys }, masterId: mk.id };
}

/** A config with a new random data key made current, wrapped under every master key (all must be given). */
export function withNewDataKey(c: VaultConfig, u: Unwrapped, masters: readonly Buffer[], now = new Date()): { config: VaultConfig; keyId: string } {
  const keyId = keyIdHex(newKeyId(c.dataKeys.map((d) => Number.parseInt(d.id, 16))));
  const dataKeys = new Map(u.dataKeys).set(keyId, randomBytes(KEY_BYTES));
  const next: Unwrapped = { root: u.root, dataKeys };
  const entries = c.masterKeys.map((e) => {
    const m = masters.find((k) => masterKeys(k, c.vaultId).id === e.id);
    return m ? { ...entryFor(m, c.vaultId, next, e.addedAt) } : e;
  });
  const config = signed({ ...c, currentDataKey: keyId, dataKeys: [...c.dataKeys, { id: keyId, createdAt: now.toISOString() }], masterKeys: entries }, masters);
  return { config, keyId };
}

/** A config with one more master key wrapping the same secrets; `masters` are the keys of every current entry. */
export function withMasterKey(c: VaultConfig, u: Unwrapped, masters: readonly Buffer[], added: Buffer): VaultConfig {
  const id = masterKeys(added, c.vaultId).id;
  if (c.masterKeys.some((e) => e.id === id)) throw new Error(`master key ${id} is already a master key of vault ${c.vaultId}`);
  if (c.masterKeys.length > 1) throw new Error(`vault ${c.vaultId} already has ${c.masterKeys.length} master keys: retire the old one ('tresor vault retire-key') before adding another`);
  return signed({ ...c, masterKeys: [...c.masterKeys, entryFor(added, c.vaultId, u, new Date().toISOString())] }, [...masters, added]);
}

/** A config without master key `retired`; `keeper` (a remaining master key) re-signs it. */
export function withoutMasterKey(c: VaultConfig, keeper: Buffer, retired: string): VaultConfig {
  const keeperId = masterKeys(keeper, c.vaultId).id;
  if (retired === keeperId) throw new Error(`refusing to retire master key ${retired}: it is the key given with --key-file; retire it with another master key`);
  if (!c.masterKeys.some((e) => e.id === retired)) throw new Error(`vault ${c.vaultId} has no master key ${retired} (it has ${c.masterKeys.map((e) => e.id).join(', ')})`);
  const left = c.masterKeys.filter((e) => e.id !== retired);
  if (left.length !== 1) throw new Error(`vault ${c.vaultId} would keep ${left.length} master keys; retire them one at a time with the one you keep`);
  return signed({ ...c, masterKeys: left }, [keeper]);
}
