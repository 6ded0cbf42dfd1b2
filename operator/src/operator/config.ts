// The operator's configuration, parsed once from the environment into a frozen object. The DBOS executor
// ID and application version are pinned here: DBOS recovers only workflows of its own executor and
// version, so both must survive a restart of the same replica unchanged.
import { hostname } from 'node:os';
import { DEFAULT_POD_RESOURCES, type PodResources } from '../backup/kube/hardening.ts';
import type { PodSettings } from '../backup/kube/specs.ts';
import type { BackupLimits } from '../backup/workflow.ts';
import { parseFilesystemVaults, parseS3Endpoints } from '../vaults/trust.ts';
import { DEFAULT_JOB_HISTORY, type JobHistoryLimits } from '../controllers/policy-history.ts';

/** Everything the operator process is told. */
export interface OperatorConfig {
  readonly pgUrl: string;
  /** This replica's identity: DBOS executor ID and leader-election identity. */
  readonly executorId: string;
  /** The DBOS application version; change it only with a release that changes workflow code. */
  readonly appVersion: string;
  /** Watch one namespace, or every namespace when undefined. */
  readonly namespace: string | undefined;
  readonly pods: PodSettings;
  /** S3 endpoint origins the operator itself may call (TRESOR_S3_ENDPOINTS); empty: any. */
  readonly s3Endpoints: readonly string[];
  readonly limits: BackupLimits;
  /** Port of /metrics, /healthz and /readyz (0 picks a free one). */
  readonly opsPort: number;
  /** Namespace of the leader-election Lease; undefined runs without election (one replica). */
  readonly leaseNamespace: string | undefined;
  readonly workers: number;
  /** How long a snapshot or transfer pod may stay Pending before its step fails. */
  readonly podPendingTimeoutMs: number;
  readonly verbose: boolean;
  /** Vault GC after recovery points were deleted (ADR 0073): wait this long after the last one, and keep younger blocks. */
  readonly gc: { readonly delayMs: number; readonly graceMs: number; readonly marginMs: number };
  /** Finished VirtualMachineBackups kept per VM per policy, by outcome (ADR 0112). */
  readonly jobHistory: JobHistoryLimits;
  /** Finished DBOS workflows are deleted this long after they completed, checked every hour (ADR 0113). */
  readonly workflowRetentionMs: number;
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

/** Parses `k=v,k2=v2`. */
export function parseSelector(raw: string | undefined): Record<string, string> | undefined {
  if (!raw) return undefined;
  const out: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const [k, v] = pair.split('=');
    if (!k || v === undefined) throw new Error(`bad node selector entry "${pair}": expected key=value`);
    out[k.trim()] = v.trim();
  }
  return out;
}

function quantity(env: NodeJS.ProcessEnv, name: string, dflt: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.test(raw)) throw new Error(`${name} must be a Kubernetes quantity such as 512Mi or 2Gi, got "${raw}"`);
  return raw;
}

/** The data pods' requests and limits from TRESOR_POD_CPU_REQUEST, TRESOR_POD_MEMORY_REQUEST and TRESOR_POD_MEMORY_LIMIT. */
function podResources(env: NodeJS.ProcessEnv): PodResources {
  const d = DEFAULT_POD_RESOURCES.data;
  return Object.freeze({
    data: {
      requests: { cpu: quantity(env, 'TRESOR_POD_CPU_REQUEST', d.requests!.cpu!), memory: quantity(env, 'TRESOR_POD_MEMORY_REQUEST', d.requests!.memory!) },
      limits: { memory: quantity(env, 'TRESOR_POD_MEMORY_LIMIT', d.limits!.memory!) },
    },
    small: DEFAULT_POD_RESOURCES.small,
  });
}

/** Reads the configuration from environment variables (TRESOR_*), failing with a message that names the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const pgUrl = env.TRESOR_PG_URL;
  if (!pgUrl) throw new Error('TRESOR_PG_URL is required: the Postgres URL DBOS keeps workflow state in');
  const nodeSelector = parseSelector(env.TRESOR_POD_NODE_SELECTOR);
  return Object.freeze({
    pgUrl,
    executorId: env.TRESOR_EXECUTOR_ID || env.HOSTNAME || hostname(),
    appVersion: env.TRESOR_APP_VERSION || '0.1.0',
    namespace: env.TRESOR_WATCH_NAMESPACE || undefined,
    pods: Object.freeze({
      image: env.TRESOR_IMAGE || 'tresor:dev',
      ...(env.TRESOR_SNAPSHOT_SERVICE_ACCOUNT ? { snapshotServiceAccount: env.TRESOR_SNAPSHOT_SERVICE_ACCOUNT } : {}),
      ...(env.TRESOR_TRANSFER_SERVICE_ACCOUNT ? { transferServiceAccount: env.TRESOR_TRANSFER_SERVICE_ACCOUNT } : {}),
      ...(env.TRESOR_VAULT_SERVICE_ACCOUNT ? { vaultServiceAccount: env.TRESOR_VAULT_SERVICE_ACCOUNT } : {}),
      resources: podResources(env),
      ...(nodeSelector ? { nodeSelector } : {}),
      filesystemVaults: parseFilesystemVaults(env.TRESOR_FILESYSTEM_VAULTS),
    }),
    s3Endpoints: parseS3Endpoints(env.TRESOR_S3_ENDPOINTS),
    limits: Object.freeze({
      maxConcurrentFreezes: int(env, 'TRESOR_MAX_CONCURRENT_FREEZES', 4, 1),
      maxConcurrentTransfers: int(env, 'TRESOR_MAX_CONCURRENT_TRANSFERS', 8, 1),
      transferAttempts: int(env, 'TRESOR_TRANSFER_ATTEMPTS', 3, 1),
      ...(env.TRESOR_MAX_FREEZES_PER_NAMESPACE ? { maxFreezesPerNamespace: int(env, 'TRESOR_MAX_FREEZES_PER_NAMESPACE', 1, 1) } : {}),
      ...(env.TRESOR_MAX_TRANSFERS_PER_NAMESPACE ? { maxTransfersPerNamespace: int(env, 'TRESOR_MAX_TRANSFERS_PER_NAMESPACE', 1, 1) } : {}),
    }),
    opsPort: int(env, 'TRESOR_OPS_PORT', 8080),
    leaseNamespace: env.TRESOR_LEASE_NAMESPACE || undefined,
    workers: int(env, 'TRESOR_WORKERS', 4, 1),
    podPendingTimeoutMs: int(env, 'TRESOR_POD_PENDING_TIMEOUT_MS', 600_000, 1000),
    verbose: env.TRESOR_VERBOSE === '1',
    jobHistory: Object.freeze({ succeeded: int(env, 'TRESOR_JOB_HISTORY_SUCCEEDED', DEFAULT_JOB_HISTORY.succeeded, 1), failed: int(env, 'TRESOR_JOB_HISTORY_FAILED', DEFAULT_JOB_HISTORY.failed, 1) }),
    workflowRetentionMs: int(env, 'TRESOR_WORKFLOW_RETENTION_HOURS', 168, 1) * 3_600_000,
    gc: Object.freeze({ delayMs: int(env, 'TRESOR_GC_DELAY_MS', 600_000), graceMs: int(env, 'TRESOR_GC_GRACE_MS', 3_600_000), marginMs: int(env, 'TRESOR_GC_MARGIN_MS', 3_600_000) }),
  });
}
