// A filesystem vault lives on a volume only pods can mount, so the operator checks it with a short pod
// (ADR 0070): the Tresor image running `tresor vault check --json` with the same vault access as a
// transfer pod (key Secret as a file, the vault's PVC or host path), its answer in the termination
// message. The pass waits for the pod (bounded), judges the answer and deletes the pod. Pods are owned
// by the vault and labelled, so a check cut short by a crash is cleaned up by the next one, or by the
// garbage collector with the vault.
import type { V1Pod } from '@kubernetes/client-node';
import { API_VERSION, Kinds, Labels, MANAGED_BY, Reasons } from '../api/constants.ts';
import type { BackupVaultObject } from '../api/types.ts';
import type { PodSettings } from '../backup/kube/specs.ts';
import { DEFAULT_POD_RESOURCES, hardenPodSpec } from '../backup/kube/hardening.ts';
import { KEY_FILE, vaultAccess, vaultUrl } from '../backup/kube/vault-access.ts';
import { childName } from '../backup/names.ts';
import { httpStatusOf } from '../runtime/errors.ts';
import { backendUrl, type VaultCheck } from './probe.ts';

/** The role label value of check pods. */
export const CHECK_ROLE = 'vault-check';

/** The pod calls a check makes (core/v1 in production, a fake in unit tests). */
export interface CheckPodApi {
  create(pod: V1Pod): Promise<void>;
  read(namespace: string, name: string): Promise<V1Pod | undefined>;
  /** Pods with the given label selector. */
  list(namespace: string, selector: string): Promise<V1Pod[]>;
  /** Deletes a pod; a missing pod is not an error. */
  remove(namespace: string, name: string): Promise<void>;
}

/** What a pod check needs. */
export interface CheckPodDeps {
  readonly pods: CheckPodApi;
  readonly settings: PodSettings;
  /** How long the pod may take from creation to its end; default 2 min. */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
  readonly now?: () => number;
}

/** The label selector of a vault's check pods. */
export function checkPodSelector(vault: string): string {
  return `${Labels.ManagedBy}=${MANAGED_BY},${Labels.Vault}=${vault},${Labels.Role}=${CHECK_ROLE}`;
}

/** What differs between the short pods the operator runs against one vault (check, maintenance). */
export interface VaultPodRun {
  readonly role: string;
  /** The middle part of the pod's name (`<vault>-<nameTag>-<time>`) and the container's name. */
  readonly nameTag: string;
  readonly container: string;
  readonly command: string[];
  readonly args?: string[];
  /** True for pods that read much data (maintenance: GC, forget): the data pods' resources. */
  readonly data?: boolean;
}

/**
 * A short pod against one vault: the vault's access (URL, key file, credentials) as a transfer pod gets
 * it, owned by the vault, named uniquely per run so a new run never waits for an old pod to go.
 */
export function vaultPod(vault: BackupVaultObject, settings: PodSettings, run: VaultPodRun, nowMs: number): V1Pod {
  const access = vaultAccess(vault, settings.filesystemVaults ?? []);
  const vaultSa = settings.vaultServiceAccount ?? settings.transferServiceAccount;
  const resources = settings.resources ?? DEFAULT_POD_RESOURCES;
  const name = vault.metadata.name!;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: childName(name, run.nameTag, nowMs.toString(36)),
      namespace: vault.metadata.namespace,
      labels: { [Labels.ManagedBy]: MANAGED_BY, [Labels.Vault]: name, [Labels.Role]: run.role },
      ownerReferences: [{ apiVersion: API_VERSION, kind: Kinds.BackupVault, name, uid: vault.metadata.uid ?? '', controller: true }],
    },
    // No token: these pods never call the API; their own account, not the namespace's default (ADR 0092).
    spec: hardenPodSpec({
      restartPolicy: 'Never',
      ...(vaultSa ? { serviceAccountName: vaultSa } : {}),
      ...(settings.nodeSelector ? { nodeSelector: { ...settings.nodeSelector } } : {}),
      volumes: access.volumes,
      containers: [{
        name: run.container,
        image: settings.image,
        command: run.command,
        ...(run.args ? { args: run.args } : {}),
        env: access.env,
        terminationMessagePolicy: 'FallbackToLogsOnError',
        volumeMounts: access.mounts,
      }],
    }, { resources: (run.data ? resources.data : resources.small), token: false }),
  };
}

/** The check pod of one vault: `tresor vault check --json` with its result as the termination message. */
export function checkPod(vault: BackupVaultObject, settings: PodSettings, nowMs: number): V1Pod {
  return vaultPod(vault, settings, {
    role: CHECK_ROLE, nameTag: 'check', container: 'check',
    command: ['sh', '-c', 'exec tresor "$@" > /dev/termination-log', 'tresor'],
    args: ['vault', 'check', '--vault', vaultUrl(vault), '--key-file', KEY_FILE, '--json'],
  }, nowMs);
}

const fail = (reason: string, message: string, backend: string, reached: boolean): VaultCheck => ({ status: 'False', reason, message, backend, reached });

/** Judges a finished check pod's exit code and termination message (pure). */
export function judgeCheckPod(exitCode: number, message: string, backend: string): VaultCheck {
  const text = message.trim().slice(-1000);
  if (exitCode === 0) {
    try {
      const r = JSON.parse(text) as { vaultId?: string; version?: number };
      return { status: 'True', reason: Reasons.VaultReady, message: `vault ${r.vaultId} opened by a check pod and the key matches`, backend, reached: true, ...(r.vaultId ? { repositoryId: r.vaultId } : {}), ...(r.version !== undefined ? { formatVersion: r.version } : {}) };
    } catch {
      return fail(Reasons.VaultUnreachable, `the check pod ended 0 but did not print its result: ${text}`, backend, false);
    }
  }
  if (/wrong key/.test(text)) return fail(Reasons.WrongKey, `the key in spec.encryption.keySecretRef is not the key this vault was created with: restore the original key (${text})`, backend, true);
  if (/no vault at/.test(text)) return fail(Reasons.VaultUninitialized, `no vault at ${backend}: initialise it with 'tresor vault init' and the key in spec.encryption.keySecretRef, or fix spec.filesystem (${text})`, backend, true);
  if (/unsupported vault format/.test(text)) return fail(Reasons.VaultUnsupported, text, backend, true);
  if (/vault config not authentic/.test(text)) return fail(Reasons.VaultConfigNotAuthentic, text, backend, true);
  if (/key file|unusable key/.test(text)) return fail(Reasons.KeyInvalid, `the check pod could not use the key from spec.encryption.keySecretRef: ${text}`, backend, false);
  return fail(Reasons.VaultUnreachable, `the check pod could not open ${backend} (exit ${exitCode}): ${text || 'no output'}`, backend, false);
}

function terminated(pod: V1Pod | undefined): { exitCode: number; message: string } | undefined {
  const t = pod?.status?.containerStatuses?.[0]?.state?.terminated;
  return t ? { exitCode: t.exitCode, message: t.message ?? '' } : undefined;
}

function pendingWhy(pod: V1Pod | undefined): string {
  const waiting = pod?.status?.containerStatuses?.[0]?.state?.waiting;
  const unscheduled = pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return [pod?.status?.phase ?? 'not seen', waiting?.reason, waiting?.message, unscheduled?.message].filter(Boolean).join(': ');
}

async function removeAll(deps: CheckPodDeps, namespace: string, vault: string): Promise<void> {
  for (const p of await deps.pods.list(namespace, checkPodSelector(vault))) await deps.pods.remove(namespace, p.metadata!.name!);
}

/** The apiserver's message in a client-node ApiException (its JSON body), else the error's own. */
function apiMessage(err: unknown): string {
  try {
    const m = (JSON.parse(String((err as { body?: unknown }).body)) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not a JSON Status body
  }
  return (err as Error).message ?? String(err);
}

/** Runs one check pod for a filesystem vault and judges it; always removes its pods. */
export async function checkWithPod(vault: BackupVaultObject, deps: CheckPodDeps, signal?: AbortSignal): Promise<VaultCheck> {
  const now = deps.now ?? Date.now;
  const ns = vault.metadata.namespace ?? '';
  const backend = backendUrl(vault);
  const timeoutMs = deps.timeoutMs ?? 120_000;
  await removeAll(deps, ns, vault.metadata.name!);
  const pod = checkPod(vault, deps.settings, now());
  try {
    await deps.pods.create(pod);
  } catch (err) {
    // Pod Security Admission (a host-path vault in a baseline/restricted namespace, ADR 0092) or a quota:
    // retrying cannot help until someone changes the namespace or the vault, so it is a verdict, not an error.
    if (httpStatusOf(err) !== 403) throw err;
    const why = apiMessage(err);
    return fail(Reasons.PodRejected, `the namespace refused the check pod (${why.slice(0, 300)}); host-path vaults cannot run where Pod Security baseline or restricted is enforced: use an S3 or PVC vault there`, backend, false);
  }
  const deadline = now() + timeoutMs;
  let seen: V1Pod | undefined;
  try {
    while (now() < deadline && !signal?.aborted) {
      seen = await deps.pods.read(ns, pod.metadata!.name!);
      const end = terminated(seen);
      if (end) return judgeCheckPod(end.exitCode, end.message, backend);
      await new Promise((r) => setTimeout(r, deps.pollMs ?? 1_000));
    }
  } finally {
    await removeAll(deps, ns, vault.metadata.name!);
  }
  return fail(Reasons.VaultUnreachable, `the check pod ${pod.metadata!.name} did not finish within ${Math.round(timeoutMs / 1000)} s (${pendingWhy(seen)}); check that the vault's volume can be mounted and the image ${deps.settings.image} pulled`, backend, false);
}
