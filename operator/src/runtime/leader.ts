// Leader election on a coordination.k8s.io Lease, after client-go's leaderelection: the holder renews
// every retryPeriod; others may take over once they have seen the same record unchanged for a full
// leaseDuration (measured on their own clock, so clock skew between nodes does not matter); a leader
// that cannot renew within renewDeadline stops leading before anyone else may start.
import { type Clock, realClock, sleep, withTimeout } from './clock.ts';
import { isConflict } from './errors.ts';
import { silentLogger, type Logger } from './log.ts';
import type { RuntimeMetrics } from './metrics.ts';

/** The Lease spec fields leader election uses (times as RFC 3339 strings with microseconds). */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly leaseTransitions: number;
}

/** A Lease as read, with the resourceVersion to precondition the next write. */
export interface LeaseSnapshot {
  readonly resourceVersion: string;
  readonly record: LeaseRecord;
}

/** The elector's narrow view of one Lease object. */
export interface LeaseApi {
  /** Reads the Lease; undefined when it does not exist. */
  get(): Promise<LeaseSnapshot | undefined>;
  /** Creates the Lease; fails with 409 if someone else created it first. */
  create(record: LeaseRecord): Promise<LeaseSnapshot>;
  /** Replaces the Lease spec, failing with 409 when it is no longer at resourceVersion. */
  update(resourceVersion: string, record: LeaseRecord): Promise<LeaseSnapshot>;
}

/** Options of a LeaderElector. */
export interface LeaderElectorOptions {
  readonly api: LeaseApi;
  /** Unique per replica (pod name plus a random suffix). */
  readonly identity: string;
  /** Names the lease in metrics and logs. */
  readonly leaseName: string;
  /** Defaults 15 s / 10 s / 2 s, as client-go's. */
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Hand the lease back on graceful stop so a successor need not wait a full leaseDuration; default true. */
  readonly releaseOnStop?: boolean;
  readonly clock?: Clock;
  readonly metrics?: RuntimeMetrics;
  readonly log?: Logger;
}

/** Callbacks of LeaderElector.run. */
export interface LeadingCallbacks {
  /** Called once on becoming leader; `signal` aborts when leadership ends. Its promise is awaited before run returns. */
  readonly onStartedLeading: (signal: AbortSignal) => Promise<void>;
  /** Called once if leadership was held and has ended (renew failed, or stop). */
  readonly onStoppedLeading?: () => void;
}

/** Formats an instant as metav1.MicroTime serialises (RFC 3339, six fractional digits, UTC). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Competes for one Lease; run() returns once this replica stopped leading or was told to stop. */
export class LeaderElector {
  private readonly opts: LeaderElectorOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private observed: { record: LeaseRecord; at: number } | undefined;
  private leading = false;

  constructor(opts: LeaderElectorOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? silentLogger;
  }

  /** True while this replica holds the lease. */
  isLeader(): boolean {
    return this.leading;
  }

  /** Acquires, leads and renews until renewal fails or signal aborts; releases the lease on a graceful stop. */
  async run(signal: AbortSignal, cb: LeadingCallbacks): Promise<void> {
    const acquired = await this.acquire(signal);
    if (!acquired) return;
    this.setLeading(true);
    const leadership = new AbortController();
    const stopLeading = (): void => leadership.abort(new Error('leadership ended'));
    signal.addEventListener('abort', stopLeading, { once: true });
    const work = cb.onStartedLeading(leadership.signal).catch((err: unknown) => {
      this.log.error('leader work failed', { lease: this.opts.leaseName, error: err });
    });
    await this.renewUntilLost(signal, leadership.signal);
    // Order matters: stop our work first, wait for it, and only then hand the lease over, so two
    // leaders never act at once.
    stopLeading();
    signal.removeEventListener('abort', stopLeading);
    await work;
    this.setLeading(false);
    cb.onStoppedLeading?.();
    if (signal.aborted && (this.opts.releaseOnStop ?? true)) await this.release();
  }

  /** One attempt to take or renew the lease; true when this replica holds it afterwards. Exposed for tests. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    const durationS = Math.ceil(this.leaseDurationMs() / 1000);
    const mine = (prev: LeaseRecord | undefined): LeaseRecord => ({
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: durationS,
      acquireTime: prev !== undefined && prev.holderIdentity === this.opts.identity ? prev.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: prev === undefined ? 0 : prev.leaseTransitions + (prev.holderIdentity === this.opts.identity ? 0 : 1),
    });
    try {
      const cur = await this.opts.api.get();
      if (cur === undefined) {
        this.observe((await this.opts.api.create(mine(undefined))).record, now);
        return true;
      }
      this.observe(cur.record, now);
      if (this.heldByOther(cur.record, now)) return false;
      this.observe((await this.opts.api.update(cur.resourceVersion, mine(cur.record))).record, now);
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log.warn('lease request failed', { lease: this.opts.leaseName, error: err });
      return false;
    }
  }

  private heldByOther(rec: LeaseRecord, now: number): boolean {
    if (rec.holderIdentity === '' || rec.holderIdentity === this.opts.identity) return false;
    // Expiry is judged from when WE first saw this exact record, not from its renewTime (clock skew).
    const seenAt = this.observed?.at ?? now;
    return seenAt + rec.leaseDurationSeconds * 1000 > now;
  }

  private observe(rec: LeaseRecord, now: number): void {
    const prev = this.observed?.record;
    const same = prev !== undefined && prev.holderIdentity === rec.holderIdentity && prev.renewTime === rec.renewTime && prev.leaseTransitions === rec.leaseTransitions;
    if (!same) this.observed = { record: rec, at: now };
  }

  // One attempt bounded in time: an API call that hangs must not keep a leader leading past its deadline.
  private attempt(ms: number): Promise<boolean> {
    return withTimeout(this.clock, this.tryAcquireOrRenew(), Math.max(0, ms), () => new Error('lease request timed out')).catch(() => false);
  }

  private async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.attempt(this.opts.renewDeadlineMs ?? 10_000)) return !signal.aborted;
      await this.pause(signal);
    }
    return false;
  }

  private async renewUntilLost(stop: AbortSignal, leadership: AbortSignal): Promise<void> {
    const renewDeadlineMs = this.opts.renewDeadlineMs ?? 10_000;
    let lastRenew = this.clock.now();
    while (!stop.aborted && !leadership.aborted) {
      await this.pause(stop);
      if (stop.aborted) return;
      if (await this.attempt(lastRenew + renewDeadlineMs - this.clock.now())) {
        lastRenew = this.clock.now();
      } else if (this.clock.now() - lastRenew >= renewDeadlineMs) {
        this.log.warn('could not renew the lease in time; stopping leading', { lease: this.opts.leaseName });
        return;
      }
    }
  }

  private async release(): Promise<void> {
    try {
      const cur = await this.opts.api.get();
      if (cur === undefined || cur.record.holderIdentity !== this.opts.identity) return;
      // An empty holder lets a successor take over at once instead of waiting out leaseDuration.
      await this.opts.api.update(cur.resourceVersion, { ...cur.record, holderIdentity: '', leaseDurationSeconds: 1 });
    } catch (err) {
      this.log.warn('could not release the lease', { lease: this.opts.leaseName, error: err });
    }
  }

  private pause(signal: AbortSignal): Promise<void> {
    const base = this.opts.retryPeriodMs ?? 2000;
    // Jitter spreads competing replicas so they do not retry in lockstep.
    return sleep(this.clock, base + Math.floor(Math.random() * base * 0.2), signal).catch(() => undefined);
  }

  private leaseDurationMs(): number {
    return this.opts.leaseDurationMs ?? 15_000;
  }

  private setLeading(v: boolean): void {
    if (this.leading === v) return;
    this.leading = v;
    const lease = this.opts.leaseName;
    this.opts.metrics?.leaderIsLeader.set({ lease }, v ? 1 : 0);
    this.opts.metrics?.leaderTransitionsTotal.inc({ lease });
    this.log.info(v ? 'started leading' : 'stopped leading', { lease, identity: this.opts.identity });
  }
}
