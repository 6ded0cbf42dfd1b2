// The snapshot pod's core: run the pre-hook, freeze the guest, cut one snapshot per disk inside the
// freeze window, thaw (always, also when cutting failed), run the post-hook, and report what happened.
// The guest, the snapshotter and the hooks are narrow interfaces so the ordering is tested without a cluster.
import type { FreezeReport } from './consistency.ts';

/** The guest agent, as KubeVirt's freeze/unfreeze subresources expose it. */
export interface GuestFreezer {
  /** Freezes the guest's file systems; the guest thaws by itself after `unfreezeTimeoutMs`. */
  freeze(unfreezeTimeoutMs: number): Promise<void>;
  unfreeze(): Promise<void>;
}

/** Cuts a point-in-time snapshot of one disk; resolves once the cut is made (not when the snapshot is ready to use). */
export interface SnapshotCutter {
  cut(disk: string): Promise<{ snapshotName: string }>;
}

/** Runs a policy's pre or post hook in the guest (or in the pod) and throws if it fails. */
export interface HookRunner {
  run(phase: 'pre' | 'post'): Promise<void>;
}

/** A monotonic clock in milliseconds (injected so tests can make time pass). */
export interface Clock {
  now(): number;
}

/** What one freeze window needs. */
export interface FreezeWindowInput {
  readonly disks: readonly string[];
  readonly freeze: boolean;
  readonly runHooks: boolean;
  /** The longest the guest may stay frozen; also the deadline the guest thaws by itself. */
  readonly freezeTimeoutMs: number;
  readonly guest: GuestFreezer;
  readonly cutter: SnapshotCutter;
  readonly hooks?: HookRunner;
  readonly clock?: Clock;
}

/** What the snapshot pod writes to its termination message. */
export interface FreezeWindowResult extends FreezeReport {
  readonly snapshots: ReadonlyArray<{ disk: string; snapshotName: string }>;
  /** How long the guest was frozen (0 when it was not). */
  readonly frozenMs: number;
  /** Set when thawing failed; the guest still thaws at its own deadline. */
  readonly thawError?: string;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} did not answer within ${ms} ms`), { timedOut: true })), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function tryFreeze(input: FreezeWindowInput): Promise<{ state: FreezeReport['freeze']; detail?: string }> {
  if (!input.freeze) return { state: 'skipped' };
  try {
    await withTimeout(input.guest.freeze(input.freezeTimeoutMs), input.freezeTimeoutMs, 'the guest agent (freeze)');
    return { state: 'ok' };
  } catch (err) {
    return { state: (err as { timedOut?: boolean }).timedOut ? 'timedOut' : 'failed', detail: message(err) };
  }
}

async function cutAll(input: FreezeWindowInput): Promise<Array<{ disk: string; snapshotName: string }>> {
  // All disks at once: the freeze window must be as short as the slowest single cut, not their sum.
  return Promise.all(input.disks.map(async (disk) => ({ disk, ...(await input.cutter.cut(disk)) })));
}

async function thaw(input: FreezeWindowInput): Promise<string | undefined> {
  // Thaw is retried: a guest left frozen stalls every write in the VM until its own deadline.
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await withTimeout(input.guest.unfreeze(), 10_000, 'the guest agent (unfreeze)');
      return undefined;
    } catch (err) {
      last = err;
    }
  }
  return message(last);
}

/**
 * Runs one freeze window. Snapshots cut after the guest's own thaw deadline are not consistent, so a
 * window that outlived `freezeTimeoutMs` is reported as timed out even though every call succeeded.
 */
export async function runFreezeWindow(input: FreezeWindowInput): Promise<FreezeWindowResult> {
  const clock = input.clock ?? { now: () => performance.now() };
  let hooks: FreezeReport['hooks'] = 'none';
  let detail: string | undefined;
  if (input.runHooks && input.hooks) {
    try {
      await input.hooks.run('pre');
      hooks = 'ok';
    } catch (err) {
      hooks = 'failed';
      detail = `pre-hook: ${message(err)}`;
    }
  }
  const frozenAt = clock.now();
  const frozen = await tryFreeze(input);
  let snapshots: Array<{ disk: string; snapshotName: string }> = [];
  let frozenMs = 0;
  let thawError: string | undefined;
  try {
    snapshots = await cutAll(input);
  } finally {
    if (frozen.state !== 'skipped') thawError = await thaw(input);
    if (frozen.state === 'ok') frozenMs = clock.now() - frozenAt;
    if (input.runHooks && input.hooks) {
      try {
        await input.hooks.run('post');
      } catch (err) {
        if (hooks === 'ok') hooks = 'failed';
        detail = [detail, `post-hook: ${message(err)}`].filter(Boolean).join('; ');
      }
    }
  }
  let freeze = frozen.state;
  if (freeze === 'ok' && frozenMs > input.freezeTimeoutMs) {
    freeze = 'timedOut';
    detail = [detail, `the window took ${Math.round(frozenMs)} ms, past the ${input.freezeTimeoutMs} ms freeze timeout`].filter(Boolean).join('; ');
  }
  const d = [frozen.detail, detail].filter(Boolean).join('; ');
  return { freeze, hooks, snapshots, frozenMs, ...(d ? { detail: d } : {}), ...(thawError ? { thawError } : {}) };
}
