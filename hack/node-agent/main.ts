// The local node agent: what the local control plane lacks to behave like a cluster with nodes, a CSI
// driver with snapshots and KubeVirt (see docs/local-node-agent.md). Run it as
//   npx node hack/node-agent/main.ts --state-dir DIR [--node-name N] [--schedule any|selected]
// It prints `node-agent ready` on stdout once every part is running, and stops cleanly on SIGTERM/SIGINT.
import { mkdirSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { parseArgs } from './config.ts';
import { errMsg, makeLog } from './log.ts';
import { registerNode } from './node.ts';
import { keepApiService, serveSubresources } from './aggregated.ts';
import { crdFiles, installCrds } from './crds.ts';
import { FreezeState } from './freeze.ts';
import { freezeHandler } from './freezeapi.ts';
import { KubeVirt } from './kubevirt.ts';
import { PodController } from './pods.ts';
import { makeRest } from './rest.ts';
import { Snapshotter } from './snapshots.ts';
import { ensureClasses, Provisioner } from './storage.ts';

/** Starts every part of the agent and returns a function that stops them in reverse order. */
export async function startAgent(argv: readonly string[]): Promise<() => Promise<void>> {
  const cfg = parseArgs(argv, process.env);
  const log = makeLog(`node-agent[${cfg.nodeName}]`, cfg.verbose);
  mkdirSync(cfg.stateDir, { recursive: true });
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const rest = makeRest(kc);
  // Each stage is logged, so an agent that is slow to get ready shows where it waits.
  log.info('installing the stand-in CRDs');
  await installCrds(rest, crdFiles(process.env));
  await ensureClasses(rest);
  log.info('registering the node');
  const node = await registerNode(rest, cfg, log);
  const snapshots = new Snapshotter({ cfg, rest, log });
  const storage = new Provisioner({ cfg, rest, log, snapshotPath: snapshots.pathOf });
  const pods = new PodController(cfg, rest, log);
  const freezes = new FreezeState((key) => {
    const [ns, name] = key.split('/');
    kubevirt.publishFreeze(ns!, name!).catch(() => undefined);
  });
  const kubevirt = new KubeVirt({ cfg, rest, log, freezes });
  for (const part of [snapshots, storage, pods, kubevirt]) part.start(kc);
  const api = cfg.aggregatedApi ? await serveSubresources(cfg, freezeHandler(kubevirt, freezes, log), log) : undefined;
  if (api) log.info(`serving the freeze API on port ${api.port}; waiting for its APIService to be Available`);
  const registration = api ? await keepApiService(rest, api.port, log) : undefined;
  return async () => {
    await registration?.stop();
    await api?.stop();
    await kubevirt.stop();
    await pods.stop();
    await storage.stop();
    await snapshots.stop();
    await node.stop();
  };
}

async function main(): Promise<void> {
  const stop = await startAgent(process.argv.slice(2));
  process.stdout.write('node-agent ready\n');
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`node-agent: stopping: ${errMsg(err)}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`node-agent: ${errMsg(err)}\n`);
    process.exit(1);
  });
}
