// The shape every controller's reconciler has: observed state in, exactly one outcome out.

/** Converged: nothing to do until something changes. */
export interface Done {
  readonly kind: 'done';
}

/** Look again after a fixed delay (polling something that emits no event, or a scheduled time). */
export interface RequeueAfter {
  readonly kind: 'requeue';
  readonly afterMs: number;
}

/** Progress is pending elsewhere (a pod running, a child being created) and its watch event will wake us. */
export interface WaitForEvent {
  readonly kind: 'wait';
}

/** The one outcome a reconcile pass returns; failures are thrown as typed errors instead. */
export type Outcome = Done | RequeueAfter | WaitForEvent;

const DONE: Done = Object.freeze({ kind: 'done' });
const WAIT: WaitForEvent = Object.freeze({ kind: 'wait' });

/** The converged outcome. */
export function done(): Done {
  return DONE;
}

/** The outcome that asks for another pass after ms milliseconds. */
export function requeueAfter(ms: number): RequeueAfter {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`requeueAfter: ${ms} is not a delay in ms`);
  return Object.freeze({ kind: 'requeue', afterMs: ms });
}

/** The outcome that waits for a watch event on this object or one of its children. */
export function waitForEvent(): WaitForEvent {
  return WAIT;
}

/** What a reconciler gets besides the observed object. */
export interface ReconcileContext {
  /** The queue key being reconciled ("namespace/name"). */
  readonly key: string;
  /** Aborted when the controller stops (shutdown, lost leadership); pass it to API calls. */
  readonly signal: AbortSignal;
  /** Failures of this key since it last succeeded (0 on a first or healthy pass). */
  readonly retries: number;
}

/** A reconciler: the latest cached object in, one outcome out; throw a typed error to fail. */
export type Reconciler<T> = (observed: T, ctx: ReconcileContext) => Promise<Outcome>;
