// Kubernetes Events with specific reasons, so `kubectl describe` tells a person what happened and why.
// Emitting never fails a reconcile: an Event is a report, not state. Identical events for the same object
// within a short window are suppressed, so a retry loop cannot flood the namespace.
import { CoreV1Api, type CoreV1Event, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { type Clock, realClock } from './clock.ts';
import { silentLogger, type Logger } from './log.ts';
import type { RuntimeMetrics } from './metrics.ts';

/** Event type as Kubernetes defines it. */
export type EventType = 'Normal' | 'Warning';

/** Where events go (core/v1 Events in production, an array in unit tests). */
export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<void>;
}

/** One event to record. */
export interface EventSpec {
  readonly object: KubernetesObject;
  readonly type: EventType;
  /** Specific and CamelCase (constants in operator/src/api/constants.ts), e.g. "FreezeFailed". */
  readonly reason: string;
  readonly message: string;
  /** What the controller did or was doing, e.g. "Freeze"; defaults to the reason. */
  readonly action?: string;
}

/** Options of an EventRecorder. */
export interface EventRecorderOptions {
  readonly sink: EventSink;
  /** The reporting component, e.g. "tresor-controller". */
  readonly component: string;
  /** This replica (pod name); defaults to the host name from the environment. */
  readonly instance?: string;
  /** Identical events for one object within this window are dropped; default 60 s. */
  readonly dedupeWindowMs?: number;
  readonly clock?: Clock;
  readonly metrics?: RuntimeMetrics;
  readonly log?: Logger;
}

const REASON = /^[A-Z][A-Za-z0-9]{1,127}$/;
const MAX_MESSAGE = 1024;

/** Records Events against involved objects. */
export class EventRecorder {
  private readonly opts: EventRecorderOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly recent = new Map<string, number>();
  private seq = 0;

  constructor(opts: EventRecorderOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? silentLogger;
  }

  /** Records a Normal event. */
  normal(object: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.record({ object, type: 'Normal', reason, message });
  }

  /** Records a Warning event. */
  warning(object: KubernetesObject, reason: string, message: string): Promise<void> {
    return this.record({ object, type: 'Warning', reason, message });
  }

  /** Records an event; resolves after the write (never rejects: failures are logged). Throws only on a bad reason. */
  async record(spec: EventSpec): Promise<void> {
    // A vague or malformed reason is a programming error; fail loudly in tests instead of emitting it.
    if (!REASON.test(spec.reason)) throw new Error(`event reason ${JSON.stringify(spec.reason)} must be CamelCase`);
    const now = this.clock.now();
    if (this.isDuplicate(spec, now)) return;
    const event = this.build(spec, now);
    try {
      await this.opts.sink.create(event.metadata.namespace ?? 'default', event);
      this.opts.metrics?.eventsEmittedTotal.inc({ type: spec.type, reason: spec.reason });
    } catch (err) {
      this.log.warn('could not record event', { reason: spec.reason, object: event.involvedObject.name, error: err });
    }
  }

  private isDuplicate(spec: EventSpec, now: number): boolean {
    const m = spec.object.metadata;
    const key = [m?.uid ?? `${m?.namespace}/${m?.name}`, spec.type, spec.reason, spec.message].join('\u0000');
    const window = this.opts.dedupeWindowMs ?? 60_000;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < window) return true;
    this.recent.set(key, now);
    if (this.recent.size > 4096) this.prune(now, window);
    return false;
  }

  private prune(now: number, window: number): void {
    for (const [k, t] of this.recent) if (now - t >= window) this.recent.delete(k);
  }

  private build(spec: EventSpec, now: number): CoreV1Event & { metadata: { namespace?: string } } {
    const m = spec.object.metadata ?? {};
    const namespace = m.namespace !== undefined && m.namespace !== '' ? m.namespace : 'default';
    const at = new Date(now);
    // Unique per recorder: object name plus time and a sequence, like client-go's name.<hex timestamp>.
    const name = `${m.name ?? 'unknown'}.${now.toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`;
    const instance = this.opts.instance ?? process.env.HOSTNAME ?? 'unknown';
    return {
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: spec.object.apiVersion,
        kind: spec.object.kind,
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      type: spec.type,
      reason: spec.reason,
      message: spec.message.length > MAX_MESSAGE ? `${spec.message.slice(0, MAX_MESSAGE - 3)}...` : spec.message,
      action: spec.action ?? spec.reason,
      source: { component: this.opts.component },
      reportingComponent: this.opts.component,
      reportingInstance: instance,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
  }
}

/** An EventSink writing core/v1 Events. */
export function coreEventSink(kc: KubeConfig): EventSink {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    async create(namespace: string, event: CoreV1Event): Promise<void> {
      await api.createNamespacedEvent({ namespace, body: event });
    },
  };
}
