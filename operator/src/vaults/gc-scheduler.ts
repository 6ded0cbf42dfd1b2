// When the operator collects a vault's garbage (ADR 0073): a while after recovery points' data was
// forgotten in it, debounced per vault so that a retention pass that deletes ten points runs one GC. GC's
// own rules make it safe at any time (it defers while a backup holds a lock, and keeps unreferenced blocks
// younger than its grace period, which covers a backup that lost its lock); the delay only batches work.
import { EventReasons } from '../api/constants.ts';
import type { BackupVaultObject } from '../api/types.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import type { ManagedController } from '../runtime/manager.ts';
import type { GcReport } from '../vault/gc.ts';

/** What the scheduler needs. */
export interface GcSchedulerDeps {
  /** The BackupVault as cached now; undefined when it was deleted meanwhile. */
  readonly vault: (namespace: string, name: string) => BackupVaultObject | undefined;
  /** Runs one GC pass on the vault. */
  readonly gc: (vault: BackupVaultObject) => Promise<GcReport>;
  readonly events: { normal(o: BackupVaultObject, reason: string, message: string): Promise<void>; warning(o: BackupVaultObject, reason: string, message: string): Promise<void> };
  /** Wait this long after the last request before collecting (batches a retention pass). */
  readonly delayMs: number;
  /** When a pass condemned blocks, run the next one this long after it (GC's margin plus the delay). */
  readonly followUpMs?: number;
  /** Attempts of a pass that failed or deferred (another pass running) before waiting for the next request. */
  readonly attempts?: number;
  readonly log?: Logger;
}

/** Runs GC on vaults a while after something was forgotten in them; a ManagedController so it stops with the manager. */
export class VaultGcScheduler implements ManagedController {
  readonly name = 'vault-gc';
  private readonly deps: GcSchedulerDeps;
  private readonly log: Logger;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<string>();
  private stopped = false;

  constructor(deps: GcSchedulerDeps) {
    this.deps = deps;
    this.log = deps.log ?? silentLogger;
  }

  /** Asks for a GC of this vault after the delay (a later request pushes it back). */
  request(vault: BackupVaultObject, attempt = 1, delayMs = this.deps.delayMs): void {
    if (this.stopped) return;
    const key = `${vault.metadata.namespace ?? ''}/${vault.metadata.name}`;
    clearTimeout(this.timers.get(key));
    const t = setTimeout(() => void this.fire(key, attempt), delayMs);
    t.unref();
    this.timers.set(key, t);
  }

  /** Waits for the manager's stop, then cancels pending passes. */
  async run(signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async fire(key: string, attempt: number): Promise<void> {
    this.timers.delete(key);
    const [ns = '', name = ''] = key.split('/');
    const vault = this.deps.vault(ns, name);
    if (!vault || this.stopped) return;
    // One pass per vault at a time: a request during a pass runs after it.
    if (this.running.has(key)) return this.request(vault, attempt);
    this.running.add(key);
    try {
      const r = await this.deps.gc(vault);
      if (r.deferred) return this.retry(vault, attempt, `GC deferred: ${r.reason}`);
      this.log.info('vault gc done', { vault: key, blocksDeleted: r.blocksDeleted, bytesDeleted: r.bytesDeleted, blocksCondemned: r.blocksCondemned });
      await this.deps.events.normal(vault, EventReasons.VaultGarbageCollected, `GC deleted ${r.blocksDeleted} of ${r.blocksSeen} blocks (${r.bytesDeleted} bytes) no recovery point references; ${r.blocksCondemned} newly condemned, ${r.keptForGrace} kept for the grace period`);
      // Two-phase GC (ADR 0015): what this pass condemned or kept for the grace is deleted by a later pass.
      if (r.blocksCondemned > 0) this.request(vault, 1, this.deps.followUpMs ?? this.deps.delayMs);
    } catch (err) {
      this.log.warn('vault gc failed', { vault: key, error: err });
      await this.deps.events.warning(vault, EventReasons.VaultGarbageCollected, `GC failed: ${(err as Error).message}`);
      this.retry(vault, attempt, 'failed');
    } finally {
      this.running.delete(key);
    }
  }

  private retry(vault: BackupVaultObject, attempt: number, why: string): void {
    if (attempt >= (this.deps.attempts ?? 5)) {
      this.log.warn('vault gc gave up until the next forget', { vault: vault.metadata.name, why });
      return;
    }
    this.request(vault, attempt + 1);
  }
}
