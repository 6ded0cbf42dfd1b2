// Vault maintenance the operator runs for a BackupVault object: forget a recovery point's manifests and
// collect garbage (ADR 0073). An S3 vault is opened in-process with the key and credentials read from its
// Secrets, as the readiness check does (ADR 0070); a filesystem vault lives on a volume only pods can mount,
// so a short pod runs `tresor vault forget|gc --json` with the vault access of a transfer pod and answers
// in its termination message (one JSON report per line).
import type { V1Pod } from '@kubernetes/client-node';
import type { BackupVaultObject } from '../api/types.ts';
import type { PodSettings } from '../backup/kube/specs.ts';
import { KEY_FILE, vaultUrl } from '../backup/kube/vault-access.ts';
import type { ForgetReport } from '../vault/forget.ts';
import type { GcReport } from '../vault/gc.ts';
import { Vault } from '../vault/vault.ts';
import { type CheckPodApi, vaultPod } from './check-pod.ts';
import { backendUrl, readKey, s3Target, type SecretReader } from './probe.ts';

/** One disk backup of a recovery point, as the vault names it. */
export interface DiskBackup {
  readonly diskId: string;
  readonly backupId: string;
}

/** The role label value of maintenance pods. */
export const MAINTENANCE_ROLE = 'vault-maintenance';

/** What maintenance needs: Secrets for S3 vaults, pods for filesystem vaults. */
/** How long a GC maintenance pod may run (a pass over a large NFS vault takes hours, not minutes). */
export const GC_POD_TIMEOUT_MS = 6 * 3_600_000;

export interface MaintenanceDeps {
  readonly secrets: SecretReader;
  readonly pods?: { readonly api: CheckPodApi; readonly settings: PodSettings };
  /** How long a forget pod may take; default 5 min. */
  readonly podTimeoutMs?: number;
  /** How long a GC pod may take; default GC_POD_TIMEOUT_MS. */
  readonly gcPodTimeoutMs?: number;
  readonly pollMs?: number;
}

/** The vault's retention lock in days (0: none). */
export function retentionLockDays(vault: BackupVaultObject): number {
  return vault.spec.immutability?.retentionLockDays ?? 0;
}

/** Opens an S3 vault in-process with the credentials and key from its Secrets. */
async function openS3(vault: BackupVaultObject, secrets: SecretReader): Promise<Vault> {
  const backend = backendUrl(vault);
  const key = await readKey(vault, secrets, backend);
  if (!key.ok) throw new Error(key.check.message);
  const target = await s3Target(vault, secrets, backend);
  if (!target.ok) throw new Error(target.check.message);
  const t = target.target;
  const { S3Store } = await import('../vault/s3-store.ts');
  const store = new S3Store({ bucket: t.bucket, prefix: t.prefix, region: t.region, credentials: t.credentials, ...(t.endpoint ? { endpoint: t.endpoint } : {}) });
  return Vault.open(store, key.key);
}

/** The maintenance pod of one vault running `tresor` once per argument list, JSON lines in its termination message. */
export function maintenancePod(vault: BackupVaultObject, runs: readonly string[][], settings: PodSettings, nowMs: number): V1Pod {
  const common = ['--vault', vaultUrl(vault), '--key-file', KEY_FILE, '--json'];
  // One shell line per run; stderr goes to the termination log too, so an error is reported with its words.
  const script = ['rc=0', ...runs.map((r) => `tresor ${[...r, ...common].map(shellQuote).join(' ')} >> /dev/termination-log 2>&1 || rc=$?`), 'exit $rc'].join('\n');
  return vaultPod(vault, settings, { role: MAINTENANCE_ROLE, nameTag: 'maint', container: 'maintenance', command: ['sh', '-c', script], data: true }, nowMs);
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs a maintenance pod to its end and returns its termination message lines parsed as JSON where they are. */
async function runPod(vault: BackupVaultObject, runs: readonly string[][], deps: MaintenanceDeps, timeoutMs = deps.podTimeoutMs ?? 300_000): Promise<{ reports: unknown[]; text: string; exitCode: number }> {
  if (!deps.pods) throw new Error(`the filesystem vault ${vault.metadata.name} can only be opened by a pod, and the operator has no pod settings (--image)`);
  const { api, settings } = deps.pods;
  const ns = vault.metadata.namespace ?? '';
  const pod = maintenancePod(vault, runs, settings, Date.now());
  const podName = pod.metadata!.name!;
  await api.create(pod);
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const t = (await api.read(ns, podName))?.status?.containerStatuses?.[0]?.state?.terminated;
      if (t) {
        const text = t.message ?? '';
        const reports = text.split('\n').flatMap((l) => {
          try {
            return l.trim().startsWith('{') ? [JSON.parse(l) as unknown] : [];
          } catch {
            return [];
          }
        });
        return { reports, text, exitCode: t.exitCode };
      }
      await new Promise((r) => setTimeout(r, deps.pollMs ?? 1_000));
    }
  } finally {
    await api.remove(ns, podName);
  }
  throw new Error(`the maintenance pod ${ns}/${podName} of vault ${vault.metadata.name} did not finish within ${Math.round(timeoutMs / 1000)} s`);
}

/**
 * Forgets every disk backup of one recovery point in its vault. Returns one report per disk (forgotten,
 * absent, locked, deferred); throws when the vault cannot be opened or a forget failed.
 */
export async function forgetInVault(vault: BackupVaultObject, disks: readonly DiskBackup[], deps: MaintenanceDeps): Promise<ForgetReport[]> {
  const days = retentionLockDays(vault);
  if (vault.spec.s3) {
    const v = await openS3(vault, deps.secrets);
    const { forgetBackup } = await import('../vault/forget.ts');
    const out: ForgetReport[] = [];
    for (const d of disks) out.push(await forgetBackup(v, d.diskId, d.backupId, { retentionLockDays: days }));
    return out;
  }
  const runs = disks.map((d) => ['vault', 'forget', '--disk-id', d.diskId, '--backup', d.backupId, '--retention-lock-days', String(days)]);
  const r = await runPod(vault, runs, deps);
  const reports = r.reports.filter((x): x is ForgetReport => typeof (x as ForgetReport).outcome === 'string');
  if (reports.length !== disks.length) throw new Error(`forgetting in ${backendUrl(vault)} failed (pod exit ${r.exitCode}): ${r.text.trim().slice(-800) || 'no output'}`);
  return reports;
}

/**
 * Runs one GC pass on the vault (grace and margin as given; a margin under GC's minimum is the operator's
 * explicit choice, e.g. in tests, and passes --force); throws when the vault cannot be opened.
 */
export async function gcInVault(vault: BackupVaultObject, o: { graceMs: number; marginMs: number }, deps: MaintenanceDeps): Promise<GcReport> {
  const { MIN_MARGIN_MS } = await import('../vault/gc.ts');
  const force = o.marginMs < MIN_MARGIN_MS;
  if (vault.spec.s3) {
    const v = await openS3(vault, deps.secrets);
    const { gcVault } = await import('../vault/gc.ts');
    return gcVault(v, { graceMs: o.graceMs, marginMs: o.marginMs, force });
  }
  const ms = (x: number): string => `${Math.max(0, Math.round(x))}ms`;
  // A GC pass lists every block; on a large network filesystem that takes far longer than a forget.
  const r = await runPod(vault, [['vault', 'gc', '--grace', ms(o.graceMs), '--margin', ms(o.marginMs), ...(force ? ['--force'] : [])]], deps, deps.gcPodTimeoutMs ?? GC_POD_TIMEOUT_MS);
  const report = r.reports.find((x): x is GcReport => typeof (x as GcReport).deferred === 'boolean');
  if (!report || r.exitCode !== 0) throw new Error(`gc of ${backendUrl(vault)} failed (pod exit ${r.exitCode}): ${r.text.trim().slice(-800) || 'no output'}`);
  return report;
}
