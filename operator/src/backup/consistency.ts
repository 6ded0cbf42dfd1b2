// The consistency decision of a backup job (the seed's steps 2-4), as pure functions: what the guest
// allows before the snapshot (plan), what the snapshot actually reached (decide), and whether that is
// good enough for the policy (check). Every outcome names its reason, so nothing degrades silently.
import { ConsistencyLevels, Reasons, type ConsistencyLevel, type Reason } from '../api/constants.ts';

/** The guest as the controller sees it on the VirtualMachine and its VMI, before the snapshot. */
export interface GuestObservation {
  /** True when a VMI is running; a stopped VM has no writes in flight. */
  readonly running: boolean;
  /** The VMI's `AgentConnected` condition is True (qemu-guest-agent answers). */
  readonly agentConnected: boolean;
  /** From the VMI's guestOSInfo; `unknown` when the agent does not report it. */
  readonly os: 'linux' | 'windows' | 'unknown';
  /** The policy configures application pre/post hooks for this VM. */
  readonly hooksConfigured: boolean;
}

/** What the snapshot pod reports about the freeze window it ran. */
export interface FreezeReport {
  /** `ok`: frozen and thawed; `failed`: the agent refused or erred; `timedOut`: no answer within the deadline; `skipped`: not attempted. */
  readonly freeze: 'ok' | 'failed' | 'timedOut' | 'skipped';
  /** `ok`, `failed`, or `none` when no hooks were configured. */
  readonly hooks: 'ok' | 'failed' | 'none';
  /** The agent's or hook's own words when something failed. */
  readonly detail?: string;
}

/** A consistency level with the reason it was reached, and whether a person should be warned. */
export interface ConsistencyOutcome {
  readonly level: ConsistencyLevel;
  readonly reason: Reason;
  readonly message: string;
  /** True when the level is weaker than the guest should have allowed (emit a Warning event). */
  readonly degraded: boolean;
}

/** What the snapshot pod should attempt for this guest, and the best level that attempt can reach. */
export interface SnapshotPlan {
  readonly freeze: boolean;
  readonly runHooks: boolean;
  readonly best: ConsistencyOutcome;
}

const rank = (level: ConsistencyLevel): number => ConsistencyLevels.indexOf(level);

/** True when `level` is at least as strong as `required` (ApplicationConsistent is the strongest). */
export function meets(level: ConsistencyLevel, required: ConsistencyLevel): boolean {
  return rank(level) <= rank(required);
}

function outcome(level: ConsistencyLevel, reason: Reason, message: string, degraded = false): ConsistencyOutcome {
  return { level, reason, message, degraded };
}

/** The level a freeze that succeeds gives this guest: VSS on Windows, hooks on Linux, else a file-system freeze. */
function frozenLevel(guest: GuestObservation, hooks: FreezeReport['hooks']): ConsistencyOutcome {
  if (guest.os === 'windows') {
    return outcome('ApplicationConsistent', Reasons.VSSSucceeded, 'the guest agent froze the guest through VSS');
  }
  if (hooks === 'ok') {
    return outcome('ApplicationConsistent', Reasons.ApplicationHooksSucceeded, 'pre/post hooks ran and the file systems were frozen');
  }
  if (hooks === 'failed') {
    return outcome('FileSystemConsistent', Reasons.HookFailed, 'an application hook failed; the file systems were still frozen', true);
  }
  return outcome('FileSystemConsistent', Reasons.NoApplicationHooks,
    'the file systems were frozen; application consistency on Linux needs pre/post hooks in the policy');
}

/** Decides, before the snapshot, what to attempt and the best level the guest allows. */
export function planSnapshot(guest: GuestObservation): SnapshotPlan {
  if (!guest.running) {
    return { freeze: false, runHooks: false,
      best: outcome('FileSystemConsistent', Reasons.VirtualMachineStopped, 'the VM is stopped: its disks have no writes in flight') };
  }
  if (!guest.agentConnected) {
    return { freeze: false, runHooks: false,
      best: outcome('CrashConsistent', Reasons.GuestAgentNotConnected,
        'the qemu-guest-agent is not connected, so the guest cannot be frozen: the snapshot is crash-consistent', true) };
  }
  return { freeze: true, runHooks: guest.hooksConfigured, best: frozenLevel(guest, guest.hooksConfigured ? 'ok' : 'none') };
}

/** Decides, after the snapshot, the level it actually reached from what the snapshot pod reported. */
export function decideConsistency(guest: GuestObservation, report: FreezeReport): ConsistencyOutcome {
  const plan = planSnapshot(guest);
  if (!plan.freeze) return plan.best;
  const detail = report.detail ? `: ${report.detail}` : '';
  switch (report.freeze) {
    case 'ok':
      return frozenLevel(guest, report.hooks);
    case 'timedOut':
      return outcome('CrashConsistent', Reasons.FreezeTimedOut, `the guest did not confirm the freeze in time${detail}`, true);
    case 'failed':
      return outcome('CrashConsistent', Reasons.FreezeFailed, `the guest agent could not freeze the file systems${detail}`, true);
    case 'skipped':
      return outcome('CrashConsistent', Reasons.FreezeFailed, 'the freeze was not attempted although the agent is connected', true);
  }
}

/** A consistency requirement that is not met, with a message that says what to fix. */
export interface ConsistencyShortfall {
  readonly reason: typeof Reasons.ConsistencyNotMet;
  readonly message: string;
}

/** Returns why `got` does not satisfy the policy's `required` level, or undefined when it does. */
export function checkRequirement(got: ConsistencyOutcome, required: ConsistencyLevel): ConsistencyShortfall | undefined {
  if (meets(got.level, required)) return undefined;
  return {
    reason: Reasons.ConsistencyNotMet,
    message: `the policy requires ${required} but the snapshot can only be ${got.level} (${got.reason}: ${got.message}); ` +
      `fix the guest (agent, hooks) or lower spec.consistency in the BackupPolicy`,
  };
}
