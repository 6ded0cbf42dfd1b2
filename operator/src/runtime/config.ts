// The runtime's configuration, parsed once from the environment into a frozen object and passed down.

/** Leader-election settings. */
export interface LeaderElectionConfig {
  readonly enabled: boolean;
  readonly namespace: string;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

/** Everything the controller runtime needs to know about its environment. */
export interface RuntimeConfig {
  /** Port of /metrics, /healthz and /readyz. */
  readonly opsPort: number;
  /** Reconcile workers per controller. */
  readonly workers: number;
  readonly watchQuietTimeoutMs: number;
  readonly relistIntervalMs: number;
  readonly leaderElection: LeaderElectionConfig;
}

type Env = Readonly<Record<string, string | undefined>>;

function seconds(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback * 1000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${JSON.stringify(raw)}: expected a positive number of seconds`);
  return Math.round(n * 1000);
}

function integer(env: Env, name: string, fallback: number, range: readonly [min: number, max: number]): number {
  const [min, max] = range;
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  return n;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new Error(`${name}=${JSON.stringify(raw)}: expected true or false`);
}

function leaderElection(env: Env, random: () => string): LeaderElectionConfig {
  const enabled = flag(env, 'TRESOR_LEADER_ELECT', true);
  const namespace = env.POD_NAMESPACE ?? '';
  if (enabled && namespace === '') throw new Error('POD_NAMESPACE must be set (downward API) when leader election is on');
  const leaseDurationMs = seconds(env, 'TRESOR_LEASE_DURATION_SECONDS', 15);
  const renewDeadlineMs = seconds(env, 'TRESOR_RENEW_DEADLINE_SECONDS', 10);
  const retryPeriodMs = seconds(env, 'TRESOR_RETRY_PERIOD_SECONDS', 2);
  // The leader must give up before a follower may take over, and must get several tries before that.
  if (renewDeadlineMs >= leaseDurationMs) throw new Error('TRESOR_RENEW_DEADLINE_SECONDS must be less than TRESOR_LEASE_DURATION_SECONDS');
  if (retryPeriodMs * 1.2 >= renewDeadlineMs) throw new Error('TRESOR_RETRY_PERIOD_SECONDS (plus 20% jitter) must be less than TRESOR_RENEW_DEADLINE_SECONDS');
  const pod = env.POD_NAME ?? env.HOSTNAME ?? 'tresor';
  return Object.freeze({
    enabled,
    namespace,
    leaseName: env.TRESOR_LEASE_NAME ?? 'tresor-controller-manager',
    // A random suffix keeps identities unique even if a restarted pod reuses its name while its old lease record lives.
    identity: `${pod}_${random()}`,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
  });
}

/** Parses and validates the runtime configuration; throws a message naming the bad variable. */
export function parseRuntimeConfig(env: Env, random: () => string = () => crypto.randomUUID().slice(0, 8)): RuntimeConfig {
  return Object.freeze({
    opsPort: integer(env, 'TRESOR_OPS_PORT', 8080, [1, 65535]),
    workers: integer(env, 'TRESOR_WORKERS', 2, [1, 64]),
    watchQuietTimeoutMs: seconds(env, 'TRESOR_WATCH_QUIET_TIMEOUT_SECONDS', 300),
    relistIntervalMs: seconds(env, 'TRESOR_RELIST_INTERVAL_SECONDS', 1800),
    leaderElection: leaderElection(env, random),
  });
}
