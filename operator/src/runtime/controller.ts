// The controller loop: informer events enqueue keys; workers take a key, reconcile the latest cached object,
// and turn the outcome (or the error, through the error policy) into the key's next visit.
import { type Clock, realClock } from './clock.ts';
import { classifyError, type ControllerError, TransientError, wrapError } from './errors.ts';
import { silentLogger, type Logger } from './log.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { defaultErrorPolicy, type ErrorPolicy } from './policy.ts';
import { WorkQueue } from './queue.ts';
import type { Outcome, Reconciler } from './reconciler.ts';

/** Read access to the informer cache by queue key. */
export interface ObjectStore<T> {
  get(key: string): T | undefined;
}

/** Called once when a key fails terminally: set the summary condition False and emit a Warning event. */
export type TerminalHandler<T> = (observed: T, err: ControllerError) => Promise<void>;

/** Options of a Controller. */
export interface ControllerOptions<T> {
  /** Names the controller in logs and metrics (e.g. "virtualmachinebackup"). */
  readonly name: string;
  readonly store: ObjectStore<T>;
  readonly reconcile: Reconciler<T>;
  readonly onTerminal?: TerminalHandler<T>;
  readonly errorPolicy?: ErrorPolicy;
  readonly queue?: WorkQueue;
  /** Keys reconciled concurrently (never the same key twice at once); default 1. */
  readonly workers?: number;
  /** A pass's signal aborts after this long (the key stays held until the reconciler returns); default 5 min. */
  readonly passTimeoutMs?: number;
  readonly clock?: Clock;
  readonly metrics?: RuntimeMetrics;
  readonly log?: Logger;
}

/** Result label of one pass, as counted in tresor_reconcile_total. */
export type PassResult = Outcome['kind'] | 'gone' | `error_${'transient' | 'terminal' | 'prerequisite'}`;

/** Ties a work queue, an informer cache, a reconciler and an error policy together. */
export class Controller<T> {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly opts: ControllerOptions<T>;
  private readonly clock: Clock;
  private readonly policy: ErrorPolicy;
  private readonly log: Logger;
  private readonly abort = new AbortController();

  constructor(opts: ControllerOptions<T>) {
    this.opts = opts;
    this.name = opts.name;
    this.clock = opts.clock ?? realClock;
    this.queue = opts.queue ?? new WorkQueue({ name: opts.name, clock: this.clock, metrics: opts.metrics });
    this.policy = opts.errorPolicy ?? defaultErrorPolicy();
    this.log = opts.log ?? silentLogger;
  }

  /** Marks a key as needing a pass (informer handlers call this). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Runs workers until signal aborts, then lets in-flight passes finish and resolves. */
  async run(signal: AbortSignal): Promise<void> {
    const stop = (): void => {
      // Abort first so in-flight reconcilers see the signal, then stop handing out new keys.
      this.abort.abort(signal.reason);
      this.queue.shutdown({ discardQueued: true });
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    const workers = Array.from({ length: Math.max(1, this.opts.workers ?? 1) }, () => this.worker());
    await Promise.all(workers);
  }

  /** Takes one key and processes it; resolves false once the queue is shut down. Exposed for tests. */
  async processNext(): Promise<boolean> {
    const key = await this.queue.get();
    if (key === undefined) return false;
    try {
      const result = await this.pass(key);
      this.opts.metrics?.reconcileTotal.inc({ controller: this.name, outcome: result });
    } finally {
      this.queue.done(key);
    }
    return true;
  }

  private async worker(): Promise<void> {
    while (await this.processNext()) {
      /* next key */
    }
  }

  private async pass(key: string): Promise<PassResult> {
    const observed = this.opts.store.get(key);
    if (observed === undefined) {
      // Deleted and gone from the cache: finalizers already ran cleanup while the object existed.
      this.queue.forget(key);
      return 'gone';
    }
    const started = this.clock.now();
    const retries = this.queue.numRequeues(key);
    const timeoutMs = this.opts.passTimeoutMs ?? 5 * 60_000;
    const deadline = new AbortController();
    // The pass is only told to stop; the key stays held until it returns, so one key never runs twice at once.
    const cancel = this.clock.setTimer(timeoutMs, () => deadline.abort(new TransientError(`pass exceeded ${timeoutMs} ms`)));
    const signal = AbortSignal.any([this.abort.signal, deadline.signal]);
    try {
      const outcome = await this.opts.reconcile(observed, { key, signal, retries });
      this.applyOutcome(key, outcome);
      return outcome.kind;
    } catch (err) {
      return await this.applyError(key, observed, wrapError(`reconciling ${this.name} ${key}`, err));
    } finally {
      cancel();
      this.opts.metrics?.reconcileDurationSeconds.observe({ controller: this.name }, (this.clock.now() - started) / 1000);
    }
  }

  private applyOutcome(key: string, outcome: Outcome): void {
    this.queue.forget(key);
    if (outcome.kind === 'requeue') this.queue.addAfter(key, outcome.afterMs);
  }

  private async applyError(key: string, observed: T, err: ControllerError): Promise<PassResult> {
    const action = this.policy(err, this.queue.numRequeues(key));
    const cls = classifyError(err);
    this.log.warn('reconcile failed', { controller: this.name, key, class: cls, action: action.kind, error: err });
    if (action.kind === 'backoff') this.queue.addRateLimited(key);
    else if (action.kind === 'retry-after') {
      this.queue.forget(key);
      this.queue.addAfter(key, action.afterMs);
    } else await this.stopKey(key, observed, err);
    return cls === 'prerequisite-missing' ? 'error_prerequisite' : `error_${cls}`;
  }

  private async stopKey(key: string, observed: T, err: ControllerError): Promise<void> {
    this.queue.forget(key);
    if (this.opts.onTerminal === undefined) return;
    try {
      await this.opts.onTerminal(observed, err);
    } catch (recordErr) {
      // Recording the failure must itself succeed eventually, or the user never learns why the object stopped.
      this.log.warn('recording terminal failure failed; retrying', { controller: this.name, key, error: recordErr });
      this.queue.addRateLimited(key);
    }
  }
}
