// The control plane at scale (issue 13): N VMs with one small disk each, played by the local node agent,
// one BackupPolicy selecting them all, the operator as a real process. Measured from the schedule's slot:
// time until every job exists / has started / has ended, job durations, the operator's peak RSS and CPU,
// API requests per job (the apiserver's own apiserver_request_total, and the operator's own count), watch
// connections, Postgres transactions and rows per job and the DBOS tables' growth, the cluster-wide
// limits (sampled), and the /metrics series count. A script that prints a report, not a timed test:
//
//   eval "$(TRESOR_ENV_DIR=/tmp/tresor-env-x bash hack/env.sh up)"
//   npx node test/bench/scale.ts --vms 100 [--disk-mib 4] [--timeout-min 60] [--json out.json]
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { kubectl, testEnv } from '../harness.ts';
import { custom, core, createVm, operatorEnv, setupEnv, teardownEnv, TRESOR, type Ctx } from '../e2e/backup-env.ts';
import { startOperator, stop, killAll } from '../e2e/operator-process.ts';

const MiB = 1 << 20;
const POLICY = 'scale';
const { values } = parseArgs({ options: {
  vms: { type: 'string', default: '100' },
  'disk-mib': { type: 'string', default: '4' },
  'timeout-min': { type: 'string', default: '60' },
  'lead-s': { type: 'string', default: '45' },
  json: { type: 'string' },
  keep: { type: 'boolean', default: false },
} });
const N = Number(values.vms);
const DISK = Number(values['disk-mib']) * MiB;
const TIMEOUT_MS = Number(values['timeout-min']) * 60_000;

const log = (m: string): void => void process.stderr.write(`[scale ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

interface Job { name: string; created: number; start?: number; end?: number; phase?: string; reason?: string }
type Counters = Map<string, number>;

/** Parses Prometheus text into `name{labels}` → value (comments dropped). */
function parseProm(text: string): Counters {
  const out: Counters = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function label(series: string, name: string): string {
  return new RegExp(`[{,]${name}="([^"]*)"`).exec(series)?.[1] ?? '';
}

/** The apiserver's request counters and long-running (watch) gauges; its full /metrics is many MiB. */
function apiserverMetrics(): Counters {
  const r = spawnSync('kubectl', ['get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 120_000, env: { ...process.env, KUBECONFIG: testEnv().kubeconfig } });
  if (r.status !== 0) throw new Error(`apiserver /metrics: ${r.stderr || r.error?.message}`);
  return parseProm(r.stdout.split('\n').filter((l) => l.startsWith('apiserver_request_total{') || l.startsWith('apiserver_longrunning_requests{')).join('\n'));
}

/** apiserver_request_total summed by verb and resource (group-qualified, with subresource). */
function requestsByVerbResource(m: Counters): Counters {
  const out: Counters = new Map();
  for (const [k, v] of m) {
    if (!k.startsWith('apiserver_request_total{')) continue;
    const group = label(k, 'group');
    const sub = label(k, 'subresource');
    const key = `${label(k, 'verb')} ${label(k, 'resource') || '-'}${group ? `.${group}` : ''}${sub ? `/${sub}` : ''}`;
    out.set(key, (out.get(key) ?? 0) + v);
  }
  return out;
}

function diff(after: Counters, before: Counters): Counters {
  const out: Counters = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

const sum = (m: Counters, pick: (k: string) => boolean = () => true): number => [...m].filter(([k]) => pick(k)).reduce((a, [, v]) => a + v, 0);

/** RSS now, peak RSS (VmHWM) and CPU seconds of a process, from /proc. */
function procStats(pid: number): { rssMiB: number; hwmMiB: number; cpuS: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024, cpuS: ticks / 100 };
  } catch {
    return undefined;
  }
}

function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Runs one SQL statement with psql against the database of `url`; rows as arrays of fields. */
function sql(url: string, statement: string): string[][] {
  const r = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qtAF', '\t', '-c', statement], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
}

function pgStats(url: string, db: string): Record<string, number> {
  const cols = ['xact_commit', 'tup_returned', 'tup_fetched', 'tup_inserted', 'tup_updated', 'tup_deleted'];
  // pg_stat_database is cumulative and updated by backends at transaction end (flushed within ~1 s).
  const row = sql(url, `select ${cols.join(', ')} from pg_stat_database where datname = '${db}'`)[0] ?? [];
  return Object.fromEntries(cols.map((c, i) => [c, Number(row[i] ?? 0)]));
}

function dbosTables(url: string): Record<string, { rows: number; bytes: number }> {
  const out: Record<string, { rows: number; bytes: number }> = {};
  for (const [name] of sql(url, "select table_name from information_schema.tables where table_schema = 'dbos' and table_type = 'BASE TABLE' order by 1")) {
    const [n, b] = sql(url, `select count(*), pg_total_relation_size('dbos."${name}"') from dbos."${name}"`)[0] ?? [];
    out[name!] = { rows: Number(n), bytes: Number(b) };
  }
  return out;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const sec = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '—' : `${(ms / 1000).toFixed(1)} s`);

async function listJobs(ns: string): Promise<Array<{ metadata: { name: string; creationTimestamp?: string }; status?: { phase?: string; startTime?: string; completionTime?: string; conditions?: Array<{ type: string; reason?: string }> } }>> {
  const l = (await custom.listNamespacedCustomObject({ ...TRESOR, plural: 'virtualmachinebackups', namespace: ns, labelSelector: `tresor.io/policy=${POLICY}` })) as { items: [] };
  return l.items;
}

async function createVms(ctx: Ctx): Promise<void> {
  for (let i = 0; i < N; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, N - i) }, (_, j) => createVm(ctx, `vm-${String(i + j).padStart(4, '0')}`, { disks: [{ name: 'root', mode: 'Block', size: DISK }] })));
  }
  const labelled = kubectl(['-n', ctx.ns, 'label', 'virtualmachines.kubevirt.io', '--all', 'scale=yes']);
  if (labelled.code !== 0) throw new Error(labelled.stderr);
  const t0 = Date.now();
  for (;;) {
    const l = (await custom.listNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances', namespace: ctx.ns })) as { items: Array<{ status?: { phase?: string } }> };
    const running = l.items.filter((v) => v.status?.phase === 'Running').length;
    if (running === N) break;
    if (Date.now() - t0 > 30 * 60_000) throw new Error(`only ${running}/${N} VMIs running after 30 min`);
    await new Promise((r) => setTimeout(r, 2000));
  }
  log(`all ${N} VMIs running after ${sec(Date.now() - t0)}`);
}

/** Everything counted cumulatively, read before and after the run. */
interface Snapshot { api: Counters; op: Counters; opText: string; pg: Record<string, number>; dbos: Record<string, { rows: number; bytes: number }>; cpuS: number; machine: { busy: number; total: number } }

async function snapshot(o: { opsPort: number; pid: number; dbUrl: string }): Promise<Snapshot> {
  const opText = await (await fetch(`http://127.0.0.1:${o.opsPort}/metrics`)).text();
  return {
    api: apiserverMetrics(), op: parseProm(opText), opText, pg: pgStats(testEnv().pgUrl, new URL(o.dbUrl).pathname.slice(1)),
    dbos: dbosTables(o.dbUrl), cpuS: procStats(o.pid)?.cpuS ?? NaN, machine: machineCpu(),
  };
}

/** What the sampling loop saw. */
interface Observed { jobs: Map<string, Job>; peak: { rss: number; watches: number; freezes: number; transfers: number; load: number }; loads: number[]; allExist?: number; allStarted?: number; allEnded?: number }

async function updateJobs(ns: string, jobs: Map<string, Job>, now: number): Promise<void> {
  for (const j of await listJobs(ns)) {
    const name = j.metadata.name;
    const rec = jobs.get(name) ?? { name, created: Date.parse(j.metadata.creationTimestamp ?? '') || now };
    if (j.status?.startTime && rec.start === undefined) rec.start = Date.parse(j.status.startTime);
    if (j.status?.completionTime && rec.end === undefined) rec.end = Date.parse(j.status.completionTime);
    rec.phase = j.status?.phase;
    rec.reason = j.status?.conditions?.find((c) => c.type === 'Succeeded' || c.type === 'Ready')?.reason;
    jobs.set(name, rec);
  }
}

async function samplePeaks(ns: string, pid: number, o: Observed): Promise<string> {
  const s = procStats(pid);
  if (s) o.peak.rss = Math.max(o.peak.rss, s.hwmMiB);
  const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'tresor.io/role' });
  const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp && (p.status?.phase === 'Running' || p.status?.phase === 'Pending'));
  const role = (r: string): number => live.filter((p) => p.metadata?.labels?.['tresor.io/role'] === r).length;
  o.peak.freezes = Math.max(o.peak.freezes, role('snapshot'));
  o.peak.transfers = Math.max(o.peak.transfers, role('transfer'));
  o.peak.watches = Math.max(o.peak.watches, sum(apiserverMetrics(), (k) => k.startsWith('apiserver_longrunning_requests{') && k.includes('verb="WATCH"')));
  const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  o.loads.push(load);
  o.peak.load = Math.max(o.peak.load, load);
  return `rss peak ${o.peak.rss.toFixed(0)} MiB; snapshot pods ${role('snapshot')}, transfer pods ${role('transfer')}; load ${load}`;
}

async function observe(ns: string, pid: number, slot: number): Promise<Observed> {
  const o: Observed = { jobs: new Map(), peak: { rss: 0, watches: 0, freezes: 0, transfers: 0, load: 0 }, loads: [] };
  while (Date.now() - slot < TIMEOUT_MS) {
    const now = Date.now();
    await updateJobs(ns, o.jobs, now);
    const all = [...o.jobs.values()];
    if (o.allExist === undefined && all.length >= N) o.allExist = Math.max(...all.map((j) => j.created)) - slot;
    if (o.allStarted === undefined && all.length >= N && all.every((j) => j.start !== undefined)) o.allStarted = Math.max(...all.map((j) => j.start!)) - slot;
    const ended = all.filter((j) => j.phase === 'Succeeded' || j.phase === 'Failed');
    const peaks = await samplePeaks(ns, pid, o);
    if (all.length >= N && ended.length >= N) {
      o.allEnded = Math.max(...ended.map((j) => j.end ?? now)) - slot;
      break;
    }
    log(`t+${sec(now - slot)}: ${all.length} exist, ${all.filter((j) => j.start).length} started, ${ended.length} ended; ${peaks}`);
    await new Promise((r) => setTimeout(r, 3000));
  }
  return o;
}

function report(o: Observed, a: Snapshot, b: Snapshot): { rows: Array<[string, string]>; apiAll: Counters; opReq: Counters } {
  const all = [...o.jobs.values()];
  const durations = all.filter((j) => j.start !== undefined && j.end !== undefined).map((j) => j.end! - j.start!);
  const failed = all.filter((j) => j.phase === 'Failed');
  const apiAll = requestsByVerbResource(diff(b.api, a.api));
  const opDiff = diff(b.op, a.op);
  const opReq: Counters = new Map();
  for (const [k, v] of opDiff) if (k.startsWith('tresor_kube_api_requests_total{')) opReq.set(`${label(k, 'verb')} ${label(k, 'resource')}`, v);
  const series = b.opText.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const perJob = (x: number): string => (x / N).toFixed(1);
  const top = (m: Counters, n: number): string => [...m].sort((x, y) => y[1] - x[1]).slice(0, n).map(([k, v]) => `${k} ${perJob(v)}`).join('; ');
  const writes = (m: Counters): number => sum(m, (k) => /^(create|update|patch|delete|deletecollection) /.test(k));
  const dbosRows = Object.entries(b.dbos).reduce((acc, [t, v]) => acc + v.rows - (a.dbos[t]?.rows ?? 0), 0);
  const pgd = (k: string): number => (b.pg[k] ?? 0) - (a.pg[k] ?? 0);
  const busy = (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total);
  const cores = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
  const rows: Array<[string, string]> = [
    ['VMs (one disk each)', `${N} × ${DISK / MiB} MiB, one namespace, one policy`],
    ['every job exists (from the slot)', sec(o.allExist)],
    ['every job started', sec(o.allStarted)],
    ['every job ended', o.allEnded === undefined ? `not within ${values['timeout-min']} min (${all.filter((j) => j.end).length} ended)` : sec(o.allEnded)],
    ['jobs created / succeeded / failed', `${all.length} / ${all.filter((j) => j.phase === 'Succeeded').length} / ${failed.length}${failed.length ? ` (${[...new Set(failed.map((j) => j.reason))].join(', ')})` : ''}`],
    ['job duration p50 / p99', `${sec(pct(durations, 50))} / ${sec(pct(durations, 99))}`],
    ['operator peak RSS (VmHWM)', `${o.peak.rss.toFixed(0)} MiB`],
    ['operator CPU during the run', `${(b.cpuS - a.cpuS).toFixed(1)} s`],
    ['operator API requests per job (all / writes)', `${perJob(sum(opReq))} / ${perJob(writes(opReq))}`],
    ['operator requests per job, top', top(opReq, 10)],
    ['operator new API connections per job', perJob(sum(opDiff, (k) => k.startsWith('tresor_kube_api_connections_total')))],
    ['apiserver requests per job, all clients', perJob(sum(apiAll))],
    ['apiserver requests per job, top', top(apiAll, 8)],
    ['watch connections (peak, apiserver-wide)', String(o.peak.watches)],
    ['Postgres per job: transactions / rows inserted / updated / deleted / read', [pgd('xact_commit'), pgd('tup_inserted'), pgd('tup_updated'), pgd('tup_deleted'), pgd('tup_returned') + pgd('tup_fetched')].map(perJob).join(' / ')],
    ['DBOS rows per job (growth)', perJob(dbosRows)],
    ['DBOS tables after', Object.entries(b.dbos).map(([t, v]) => `${t} +${v.rows - (a.dbos[t]?.rows ?? 0)} rows (${(v.bytes / 1024).toFixed(0)} KiB)`).join('; ')],
    ['peak snapshot pods / transfer pods (limits 4 / 4)', `${o.peak.freezes} / ${o.peak.transfers}`],
    ['/metrics series', `${series} (${(series / N).toFixed(1)} per VM)`],
    ['machine: load avg peak / mean; CPU busy', `${o.peak.load.toFixed(1)} / ${(o.loads.reduce((x, y) => x + y, 0) / Math.max(1, o.loads.length)).toFixed(1)}; ${(busy * 100).toFixed(0)}% of ${cores} cores`],
  ];
  return { rows, apiAll, opReq };
}

async function main(): Promise<void> {
  log(`setting up ${N} VMs with one ${DISK / MiB} MiB Block disk each`);
  const ctx: Ctx = await setupEnv('scale');
  let op: Awaited<ReturnType<typeof startOperator>> | undefined;
  try {
    await createVms(ctx);
    const env = operatorEnv(ctx, `scale-${ctx.node}`);
    op = await startOperator(env);
    const o = { pid: op.child.pid!, opsPort: Number(/ops port (\d+)/.exec(op.output())?.[1]), dbUrl: env.TRESOR_PG_URL! };
    // The slot: the next whole minute at least lead-s seconds away (cron in UTC).
    const slot = Math.ceil((Date.now() + Number(values['lead-s']) * 1000) / 60_000) * 60_000;
    const at = new Date(slot);
    await custom.createNamespacedCustomObject({ ...TRESOR, plural: 'backuppolicies', namespace: ctx.ns, body: {
      apiVersion: 'tresor.io/v1alpha1', kind: 'BackupPolicy', metadata: { name: POLICY },
      spec: { schedule: `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`, vmSelector: { matchLabels: { scale: 'yes' } }, vaultRef: { name: 'vault' }, retention: { keepLast: 3 } },
    } });
    log(`policy created; slot ${at.toISOString()}`);
    // Baselines just before the slot, after the operator's start-up lists.
    while (Date.now() < slot - 3000) await new Promise((r) => setTimeout(r, 500));
    const before = await snapshot(o);
    const seen = await observe(ctx.ns, o.pid, slot);
    const after = await snapshot(o);
    const { rows, apiAll, opReq } = report(seen, before, after);
    process.stdout.write(`\n| figure (N = ${N}) | value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`);
    if (values.json) writeFileSync(values.json, JSON.stringify({ N, rows, apiAll: Object.fromEntries(apiAll), opReq: Object.fromEntries(opReq), jobs: [...seen.jobs.values()] }, null, 1));
  } finally {
    await stop(op);
    killAll();
    if (!values.keep) await teardownEnv(ctx);
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`scale bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
