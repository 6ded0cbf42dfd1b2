// Wiring of the operator process: configuration → DBOS (pinned executor ID and version, so a restarted
// replica recovers its own workflows) → the backup workflows over the Kubernetes BackupCluster → the
// VirtualMachineBackup informer and controller under the runtime's manager (with leader election when
// configured; a new leader first re-enqueues the previous leader's workflows) → /metrics /healthz /readyz.
// A lost workflow database (dropped, restored empty; not an outage, which DBOS rides out) ends the run
// with 'database-lost', so the restarted process recreates it and runs the unfinished jobs again.
import { DBOS } from '@dbos-inc/dbos-sdk';
import { CustomObjectsApi, KubeConfig, type KubernetesListObject } from '@kubernetes/client-node';
import { API_VERSION, GROUP, Kinds, VERSION } from '../api/constants.ts';
import type { VirtualMachineBackupObject } from '../api/types.ts';
import { KubeBackupCluster } from '../backup/kube/cluster.ts';
import { registerBackupWorkflows } from '../backup/workflow.ts';
import { BackupController } from '../controllers/backup.ts';
import { Controller } from '../runtime/controller.ts';
import { coreEventSink, EventRecorder } from '../runtime/events.ts';
import { objectFinalizerApi } from '../runtime/finalizers.ts';
import { Informer } from '../runtime/informer.ts';
import { LeaderElector } from '../runtime/leader.ts';
import { coordinationLeaseApi } from '../runtime/lease.ts';
import { apiListWatch, collectionPath } from '../runtime/listwatch.ts';
import { jsonLogger, type Logger } from '../runtime/log.ts';
import { enqueueOnChange, informerReadiness, runManager, type ManagedController, type ManagerExit } from '../runtime/manager.ts';
import { createRuntimeMetrics } from '../runtime/metrics.ts';
import { countApiRequests, reuseConnections } from '../runtime/connections.ts';
import { OpsServer } from '../runtime/server.ts';
import type { OperatorConfig } from './config.ts';
import { wirePolicyControllers } from './policy-wiring.ts';
import { HolderTrackingLease, recoverExecutor } from './recovery.ts';
import { watchWorkflowStore } from './store-watch.ts';
import { dbosFinishedWorkflows, workflowRetention } from './workflow-retention.ts';
import { wireRestores } from './restore-wiring.ts';
import { maintenanceDeps, wireRecoveryPoints } from './recoverypoint-wiring.ts';
import { forgetInVault } from '../vaults/maintenance.ts';
import { wireBackupMetrics } from './metrics-wiring.ts';

/** How often the workflow database is probed for loss. */
const STORE_PROBE_INTERVAL_MS = 10_000;
/** How often finished workflows past their retention are pruned. */
const WORKFLOW_RETENTION_INTERVAL_MS = 3_600_000;


/** What a running operator exposes to its caller (tests read the ops port). */
export interface RunningOperator {
  readonly opsPort: number;
  /** Resolves when the manager returned (stopped, leadership lost, or the workflow database lost). */
  readonly exited: Promise<ManagerExit | 'database-lost'>;
}

function vmbInformer(kc: KubeConfig, cfg: OperatorConfig, metrics: ReturnType<typeof createRuntimeMetrics>, log: Logger): Informer<VirtualMachineBackupObject> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const plural = 'virtualmachinebackups';
  const list = (): Promise<KubernetesListObject<VirtualMachineBackupObject>> => (cfg.namespace
    ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace: cfg.namespace })
    : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<KubernetesListObject<VirtualMachineBackupObject>>;
  const path = collectionPath({ group: GROUP, version: VERSION, plural, ...(cfg.namespace ? { namespace: cfg.namespace } : {}) });
  return new Informer({ resource: plural, source: apiListWatch({ kubeConfig: kc, path, list }), metrics, log });
}

async function launchDbos(cfg: OperatorConfig, kc: KubeConfig, events: EventRecorder, onStoreLost: (err: unknown) => void): Promise<BackupController> {
  const maintenance = maintenanceDeps(kc, cfg.pods);
  const cluster = new KubeBackupCluster({
    kubeConfig: kc, pods: cfg.pods, events, pendingTimeoutMs: cfg.podPendingTimeoutMs, log: jsonLogger('backup-cluster', cfg.verbose),
    forget: (v, disks) => forgetInVault(v, disks, maintenance),
  });
  const workflows = registerBackupWorkflows(cluster, cfg.limits);
  DBOS.setConfig({ name: 'tresor', systemDatabaseUrl: cfg.pgUrl, executorID: cfg.executorId, applicationVersion: cfg.appVersion, logLevel: cfg.verbose ? 'info' : 'warn' });
  await DBOS.launch();
  await workflows.registerQueues();
  return new BackupController({
    cluster, workflows,
    control: { cancel: (uid) => DBOS.cancelWorkflow(uid, { cancelChildren: true }) },
    finalizers: objectFinalizerApi(kc, { apiVersion: API_VERSION, kind: Kinds.VirtualMachineBackup }),
    log: jsonLogger('backup-controller', cfg.verbose),
    onStoreLost,
  });
}

/** Starts the operator; stops when `signal` aborts. */
export async function startOperator(cfg: OperatorConfig, signal: AbortSignal, kc: KubeConfig = defaultKubeConfig()): Promise<RunningOperator> {
  const log = jsonLogger('tresor-operator', cfg.verbose);
  const metrics = createRuntimeMetrics();
  // Before any client is built from kc: every API call then shares pooled keep-alive connections.
  reuseConnections(kc, { onConnect: () => metrics.kubeApiConnectionsTotal.inc() });
  const server = kc.getCurrentCluster()?.server;
  if (server) countApiRequests(server, (verb, resource) => metrics.kubeApiRequestsTotal.inc({ verb, resource }), signal);
  const events = new EventRecorder({ sink: coreEventSink(kc), component: 'tresor-operator', instance: cfg.executorId, metrics, log });
  // Restore workflows register before DBOS launches (launchDbos), so DBOS recovers them too.
  const restores = wireRestores({ kc, cfg, events, metrics, log: jsonLogger('restore-controller', cfg.verbose) });
  const lost = new AbortController();
  const onStoreLost = (err: unknown): void => lost.abort(err);
  const backups = await launchDbos(cfg, kc, events, onStoreLost);
  const informer = vmbInformer(kc, cfg, metrics, log);
  const controller = new Controller<VirtualMachineBackupObject>({
    name: 'virtualmachinebackup', store: informer, reconcile: backups.reconcile, workers: cfg.workers, metrics, log,
  });
  enqueueOnChange(informer, (k) => controller.enqueue(k));
  const policies = wirePolicyControllers({ kc, namespace: cfg.namespace, workers: cfg.workers, metrics, log: jsonLogger('policy-controller', cfg.verbose), events, jobs: informer, pods: cfg.pods, s3Endpoints: cfg.s3Endpoints, history: cfg.jobHistory });
  const backupMetrics = wireBackupMetrics({ kubeConfig: kc, namespace: cfg.namespace, metrics, log, backups: informer, shared: policies.informers });
  const points = wireRecoveryPoints({ kc, workers: cfg.workers, metrics, log: jsonLogger('recoverypoint-controller', cfg.verbose), events, pods: cfg.pods, gc: cfg.gc, shared: [...policies.informers, ...restores.informers] });
  const lease = cfg.leaseNamespace ? new HolderTrackingLease(coordinationLeaseApi(kc, cfg.leaseNamespace, 'tresor-operator'), cfg.executorId) : undefined;
  const retention = workflowRetention({ store: dbosFinishedWorkflows(), retentionMs: cfg.workflowRetentionMs, intervalMs: WORKFLOW_RETENTION_INTERVAL_MS, log });
  const takeover: ManagedController = {
    name: 'workflow-takeover',
    run: async () => {
      const prev = lease?.previousHolder();
      if (prev) await recoverExecutor(prev, cfg.appVersion, log);
    },
  };
  const elector = lease ? new LeaderElector({ api: lease, identity: cfg.executorId, leaseName: 'tresor-operator', metrics, log }) : undefined;
  const allInformers = [informer, ...backupMetrics.informers, ...restores.informers, ...policies.informers];
  // Ready means every cache the controllers wait for has synced: one missing API (KubeVirt's VMs) blocks them all.
  const ops = new OpsServer({ registry: metrics.registry, port: cfg.opsPort, liveness: [{ name: 'dbos', check: () => true }], readiness: informerReadiness(allInformers) });
  const opsPort = await ops.listen();
  log.info('operator started', { executorId: cfg.executorId, appVersion: cfg.appVersion, opsPort, namespace: cfg.namespace ?? '(all)' });
  const running = AbortSignal.any([signal, lost.signal]);
  const probing = new AbortController();
  void watchWorkflowStore({ probe: () => DBOS.getWorkflowStatus('tresor-store-probe'), onLost: onStoreLost, intervalMs: STORE_PROBE_INTERVAL_MS, log }, AbortSignal.any([running, probing.signal]));
  const exited = runManager({ informers: allInformers, controllers: [takeover, retention, controller, ...restores.controllers, ...policies.controllers, ...points.controllers], ...(elector ? { elector } : {}), log }, running)
    .then((why) => (lost.signal.aborted ? 'database-lost' as const : why))
    .finally(async () => {
      probing.abort();
      await ops.close();
      await DBOS.shutdown();
    });
  return { opsPort, exited };
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
