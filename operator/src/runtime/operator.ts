// The controller-manager process around the controllers: metrics registry, ops server, leader election,
// informers and controllers, and a clean stop on SIGTERM. The CLI's `controller` subcommand calls this.
import type { KubeConfig } from '@kubernetes/client-node';
import type { RuntimeConfig } from './config.ts';
import { LeaderElector, type LeaseApi } from './leader.ts';
import { coordinationLeaseApi } from './lease.ts';
import { jsonLogger, type Logger } from './log.ts';
import { informerReadiness, type ManagedController, type ManagedInformer, runManager } from './manager.ts';
import { createRuntimeMetrics, type RuntimeMetrics } from './metrics.ts';
import { OpsServer } from './server.ts';

/** What the controller builder gets to wire its informers and controllers. */
export interface ControllerDeps {
  readonly config: RuntimeConfig;
  readonly kubeConfig: KubeConfig;
  readonly metrics: RuntimeMetrics;
  readonly log: Logger;
}

/** The informers and controllers one process runs. */
export interface ControllerSet {
  readonly informers: readonly ManagedInformer[];
  readonly controllers: readonly ManagedController[];
}

/** Options of runControllerManager. */
export interface RunControllerManagerOptions {
  readonly config: RuntimeConfig;
  readonly kubeConfig: KubeConfig;
  readonly build: (deps: ControllerDeps) => ControllerSet;
  /** Stops the run; when absent, SIGTERM and SIGINT do. */
  readonly signal?: AbortSignal;
  readonly log?: Logger;
  /** Overrides the Lease client (tests). */
  readonly leaseApi?: LeaseApi;
  /** Called with the ops server's bound port once it listens (tests use port 0). */
  readonly onListening?: (port: number) => void;
}

function stopSignal(external: AbortSignal | undefined, log: Logger): { signal: AbortSignal; dispose: () => void } {
  if (external !== undefined) return { signal: external, dispose: () => {} };
  const ac = new AbortController();
  const onSignal = (name: string): void => {
    log.info('stopping', { signal: name });
    ac.abort(new Error(name));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const dispose = (): void => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  return { signal: ac.signal, dispose };
}

/** Runs the controller manager until stopped (exit code 0) or leadership is lost (exit code 1). */
export async function runControllerManager(opts: RunControllerManagerOptions): Promise<number> {
  const log = opts.log ?? jsonLogger('controller-manager');
  const metrics = createRuntimeMetrics();
  const set = opts.build({ config: opts.config, kubeConfig: opts.kubeConfig, metrics, log });
  const server = new OpsServer({
    registry: metrics.registry,
    port: opts.config.opsPort,
    liveness: [{ name: 'process', check: () => true }],
    readiness: informerReadiness(set.informers),
  });
  const { signal, dispose } = stopSignal(opts.signal, log);
  const le = opts.config.leaderElection;
  const elector = le.enabled
    ? new LeaderElector({
        api: opts.leaseApi ?? coordinationLeaseApi(opts.kubeConfig, le.namespace, le.leaseName),
        identity: le.identity,
        leaseName: le.leaseName,
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        metrics,
        log,
      })
    : undefined;
  try {
    opts.onListening?.(await server.listen());
    const exit = await runManager({ informers: set.informers, controllers: set.controllers, elector, log }, signal);
    log.info('controller manager ended', { exit });
    return exit === 'stopped' ? 0 : 1;
  } finally {
    dispose();
    await server.close();
  }
}
