// Per-VMI freeze state, as virt-handler keeps it: a frozen guest remembers since when, and thaws by
// itself at the unfreeze deadline the caller gave (KubeVirt's unfreezeTimeout), so a caller that dies
// inside the freeze window never leaves a guest frozen. A short history per VMI lets tests check that
// snapshots were cut while the guest was frozen.

/** One freeze of a guest. */
export interface FreezeRecord {
  readonly frozenAt: string;
  thawedAt?: string;
  /** `unfreeze`: the caller thawed it; `timeout`: the deadline did. */
  thawedBy?: 'unfreeze' | 'timeout';
}

interface Frozen {
  readonly since: Date;
  readonly deadline: Date;
  readonly timer: NodeJS.Timeout;
  readonly record: FreezeRecord;
}

const HISTORY = 10;

/** Frozen guests by VMI key (namespace/name), with auto-thaw timers. */
export class FreezeState {
  private readonly frozen = new Map<string, Frozen>();
  private readonly history = new Map<string, FreezeRecord[]>();
  private readonly onChange: (key: string) => void;

  constructor(onChange: (key: string) => void) {
    this.onChange = onChange;
  }

  /** Whether the VMI's guest is frozen now. */
  isFrozen(key: string): boolean {
    return this.frozen.has(key);
  }

  /** The VMI's recent freezes, oldest first. */
  records(key: string): readonly FreezeRecord[] {
    return this.history.get(key) ?? [];
  }

  /** Freezes (or re-arms the deadline of an already frozen guest, as KubeVirt does). */
  freeze(key: string, timeoutMs: number): void {
    const prev = this.frozen.get(key);
    if (prev) clearTimeout(prev.timer);
    const since = prev?.since ?? new Date();
    const record = prev?.record ?? { frozenAt: since.toISOString() };
    if (!prev) this.history.set(key, [...this.records(key), record].slice(-HISTORY));
    const timer = setTimeout(() => this.thaw(key, 'timeout'), timeoutMs);
    timer.unref();
    this.frozen.set(key, { since, deadline: new Date(Date.now() + timeoutMs), timer, record });
    this.onChange(key);
  }

  /** Thaws the guest if frozen. */
  thaw(key: string, by: 'unfreeze' | 'timeout'): void {
    const f = this.frozen.get(key);
    if (!f) return;
    clearTimeout(f.timer);
    f.record.thawedAt = new Date().toISOString();
    f.record.thawedBy = by;
    this.frozen.delete(key);
    this.onChange(key);
  }

  /** Forgets a VMI (it was deleted). */
  forget(key: string): void {
    const f = this.frozen.get(key);
    if (f) clearTimeout(f.timer);
    this.frozen.delete(key);
    this.history.delete(key);
  }
}
