// `tresor snapshot`: the snapshot pod's command. Runs one freeze window (pre-hook, freeze, one
// VolumeSnapshot per disk, thaw, post-hook) and writes its report as JSON to the termination log. It
// exits 0 whenever it could report, also when the freeze failed (the operator decides the consistency);
// non-zero only when it could not do its job at all (bad arguments, no API, a snapshot not cut).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { parseDuration } from '../api/duration.ts';
import { kubevirtFreezer, unsupportedHooks, volumeSnapshotCutter } from '../backup/kube/snapshot-pod.ts';
import { runFreezeWindow } from '../backup/freeze-window.ts';
import { reuseConnections } from '../runtime/connections.ts';

const USAGE = `usage: tresor snapshot --namespace NS --vmi NAME --job NAME --job-uid UID --disk NAME=PVC [--disk ...]
                       [--freeze] [--hooks] [--freeze-timeout 60s] [--snapshot-class NAME] [--termination-log /dev/termination-log]`;

/** The parsed command line of `tresor snapshot`. */
export interface SnapshotArgs {
  readonly namespace: string;
  readonly vmi: string;
  readonly job: string;
  readonly jobUid: string;
  readonly disks: ReadonlyMap<string, string>;
  readonly freeze: boolean;
  readonly hooks: boolean;
  readonly freezeTimeoutMs: number;
  readonly snapshotClass?: string;
  readonly terminationLog: string;
}

/** Parses the arguments after `tresor snapshot`; throws a message with the usage on a mistake. */
export function parseSnapshotArgs(argv: readonly string[]): SnapshotArgs {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      namespace: { type: 'string' }, vmi: { type: 'string' }, job: { type: 'string' }, 'job-uid': { type: 'string' },
      disk: { type: 'string', multiple: true }, freeze: { type: 'boolean' }, hooks: { type: 'boolean' },
      'freeze-timeout': { type: 'string' }, 'snapshot-class': { type: 'string' }, 'termination-log': { type: 'string' },
    },
  });
  const need = (k: 'namespace' | 'vmi' | 'job' | 'job-uid'): string => {
    const v = values[k];
    if (!v) throw new Error(`--${k} is required\n${USAGE}`);
    return v;
  };
  const disks = new Map<string, string>();
  for (const d of values.disk ?? []) {
    const [name, pvc] = d.split('=');
    if (!name || !pvc) throw new Error(`--disk ${d}: expected NAME=PVC\n${USAGE}`);
    disks.set(name, pvc);
  }
  if (disks.size === 0) throw new Error(`at least one --disk is required\n${USAGE}`);
  return {
    namespace: need('namespace'), vmi: need('vmi'), job: need('job'), jobUid: need('job-uid'), disks,
    freeze: values.freeze === true, hooks: values.hooks === true,
    freezeTimeoutMs: parseDuration(values['freeze-timeout'] ?? '60s'),
    ...(values['snapshot-class'] ? { snapshotClass: values['snapshot-class'] } : {}),
    terminationLog: values['termination-log'] ?? '/dev/termination-log',
  };
}

function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  // In a pod, the ServiceAccount's credentials; outside one (people, tests), the usual kubeconfig.
  if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) kc.loadFromCluster();
  else kc.loadFromDefault();
  // One pooled connection for the snapshot's dozen calls instead of a TLS handshake each (ADR 0111).
  return reuseConnections(kc);
}

/** Runs `tresor snapshot` and returns the exit code. */
export async function snapshotCommand(argv: readonly string[]): Promise<number> {
  let args: SnapshotArgs;
  try {
    args = parseSnapshotArgs(argv);
  } catch (err) {
    process.stderr.write(`tresor snapshot: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const kubeConfig = loadKubeConfig();
    const job = { namespace: args.namespace, name: args.job, uid: args.jobUid };
    const result = await runFreezeWindow({
      disks: [...args.disks.keys()],
      freeze: args.freeze,
      runHooks: args.hooks,
      freezeTimeoutMs: args.freezeTimeoutMs,
      guest: kubevirtFreezer(kubeConfig, args.namespace, args.vmi),
      cutter: volumeSnapshotCutter({ kubeConfig, job, vmName: args.vmi, disks: args.disks, ...(args.snapshotClass ? { snapshotClass: args.snapshotClass } : {}) }),
      hooks: unsupportedHooks,
    });
    const json = JSON.stringify(result);
    await writeFile(args.terminationLog, json);
    process.stdout.write(`${json}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`tresor snapshot: error: ${(err as Error).message}\n`);
    return 1;
  }
}
