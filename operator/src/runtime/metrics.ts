// Every metric the runtime exports, named in one place. Names are snake_case with the Prometheus unit
// suffix: `_seconds` for durations and timestamps, `_total` for counters; gauges of a count (queue depth,
// leadership 0/1) carry no unit, as Prometheus' naming guide says for dimensionless values.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Metric names of the runtime (controllers' own metrics belong in their modules, with the same prefix). */
export const METRIC = Object.freeze({
  reconcileTotal: 'tresor_reconcile_total',
  reconcileDurationSeconds: 'tresor_reconcile_duration_seconds',
  workqueueDepth: 'tresor_workqueue_depth',
  workqueueAddsTotal: 'tresor_workqueue_adds_total',
  workqueueRetriesTotal: 'tresor_workqueue_retries_total',
  workqueueQueueDurationSeconds: 'tresor_workqueue_queue_duration_seconds',
  informerRelistsTotal: 'tresor_informer_relists_total',
  informerRestartsTotal: 'tresor_informer_restarts_total',
  informerLastEventTimestampSeconds: 'tresor_informer_last_event_timestamp_seconds',
  leaderIsLeader: 'tresor_leader_is_leader',
  leaderTransitionsTotal: 'tresor_leader_transitions_total',
  statusWritesTotal: 'tresor_status_writes_total',
  eventsEmittedTotal: 'tresor_events_emitted_total',
  kubeApiConnectionsTotal: 'tresor_kube_api_connections_total',
  kubeApiRequestsTotal: 'tresor_kube_api_requests_total',
});

/** Label names used by the runtime's metrics. */
export const METRIC_LABEL = Object.freeze({
  controller: 'controller',
  outcome: 'outcome',
  queue: 'queue',
  resource: 'resource',
  reason: 'reason',
  lease: 'lease',
  result: 'result',
  type: 'type',
  verb: 'verb',
});

const L = METRIC_LABEL;

/** The runtime's metric handles, registered on one registry. */
export interface RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'outcome'>;
  readonly reconcileDurationSeconds: Histogram<'controller'>;
  readonly workqueueDepth: Gauge<'queue'>;
  readonly workqueueAddsTotal: Counter<'queue'>;
  readonly workqueueRetriesTotal: Counter<'queue'>;
  readonly workqueueQueueDurationSeconds: Histogram<'queue'>;
  readonly informerRelistsTotal: Counter<'resource'>;
  readonly informerRestartsTotal: Counter<'resource' | 'reason'>;
  readonly informerLastEventTimestampSeconds: Gauge<'resource'>;
  readonly leaderIsLeader: Gauge<'lease'>;
  readonly leaderTransitionsTotal: Counter<'lease'>;
  readonly statusWritesTotal: Counter<'result'>;
  readonly eventsEmittedTotal: Counter<'type' | 'reason'>;
  readonly kubeApiConnectionsTotal: Counter;
  readonly kubeApiRequestsTotal: Counter<'verb' | 'resource'>;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Creates the runtime's metrics on the given registry (a fresh one per process, or per test). */
export function createRuntimeMetrics(registry: Registry = new Registry()): RuntimeMetrics {
  const registers = [registry];
  return Object.freeze({
    registry,
    reconcileTotal: new Counter({ name: METRIC.reconcileTotal, help: 'Reconcile passes by controller and outcome.', labelNames: [L.controller, L.outcome] as const, registers }),
    reconcileDurationSeconds: new Histogram({ name: METRIC.reconcileDurationSeconds, help: 'Time one reconcile pass took.', labelNames: [L.controller] as const, buckets: DURATION_BUCKETS, registers }),
    workqueueDepth: new Gauge({ name: METRIC.workqueueDepth, help: 'Keys waiting in the work queue (not counting delayed ones).', labelNames: [L.queue] as const, registers }),
    workqueueAddsTotal: new Counter({ name: METRIC.workqueueAddsTotal, help: 'Keys added to the work queue (after de-duplication).', labelNames: [L.queue] as const, registers }),
    workqueueRetriesTotal: new Counter({ name: METRIC.workqueueRetriesTotal, help: 'Rate-limited re-adds after a failed reconcile.', labelNames: [L.queue] as const, registers }),
    workqueueQueueDurationSeconds: new Histogram({ name: METRIC.workqueueQueueDurationSeconds, help: 'Time a key waited in the queue before a worker took it.', labelNames: [L.queue] as const, buckets: DURATION_BUCKETS, registers }),
    informerRelistsTotal: new Counter({ name: METRIC.informerRelistsTotal, help: 'Full lists an informer made (start, expired resourceVersion, recovery).', labelNames: [L.resource] as const, registers }),
    informerRestartsTotal: new Counter({ name: METRIC.informerRestartsTotal, help: 'Watch restarts by reason (error, quiet timeout, closed).', labelNames: [L.resource, L.reason] as const, registers }),
    informerLastEventTimestampSeconds: new Gauge({ name: METRIC.informerLastEventTimestampSeconds, help: 'Unix time of the last watch event or successful list.', labelNames: [L.resource] as const, registers }),
    leaderIsLeader: new Gauge({ name: METRIC.leaderIsLeader, help: '1 while this process holds the lease, else 0.', labelNames: [L.lease] as const, registers }),
    leaderTransitionsTotal: new Counter({ name: METRIC.leaderTransitionsTotal, help: 'Times this process gained or lost the lease.', labelNames: [L.lease] as const, registers }),
    statusWritesTotal: new Counter({ name: METRIC.statusWritesTotal, help: 'Status writer calls by result (written, unchanged, conflict, gone).', labelNames: [L.result] as const, registers }),
    eventsEmittedTotal: new Counter({ name: METRIC.eventsEmittedTotal, help: 'Kubernetes Events emitted by type and reason.', labelNames: [L.type, L.reason] as const, registers }),
    kubeApiConnectionsTotal: new Counter({ name: METRIC.kubeApiConnectionsTotal, help: 'New connections (TCP and TLS handshakes) to the Kubernetes API server.', registers }),
    kubeApiRequestsTotal: new Counter({ name: METRIC.kubeApiRequestsTotal, help: 'Requests this process sent to the Kubernetes API server, by verb and resource (bounded: resources Tresor uses).', labelNames: [L.verb, L.resource] as const, registers }),
  });
}
