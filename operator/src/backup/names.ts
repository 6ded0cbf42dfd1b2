// Deterministic names for everything a backup job creates, so every step can look for its output
// first and adopt it after a crash instead of creating a duplicate. Names stay valid DNS labels
// (<= 63 characters, lowercase alphanumerics and '-'): a name that would be longer is cut and ends
// with a hash of the whole name, so two long names never collide by truncation.
import { createHash } from 'node:crypto';

/** The longest name we generate: a DNS label, valid for every kind (pods' hostnames included). */
export const MAX_NAME_LENGTH = 63;

function sanitize(part: string): string {
  return part.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
}

/** Joins parts into a DNS-label name; cuts a long one and appends 8 hex characters of its hash. */
export function childName(...parts: readonly string[]): string {
  const full = parts.map(sanitize).filter(Boolean).join('-');
  if (full.length <= MAX_NAME_LENGTH) return full;
  const hash = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_NAME_LENGTH - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/** The names of one backup job's children. */
export interface JobChildNames {
  readonly snapshotPod: string;
  readonly recoveryPoint: string;
  /** The CSI VolumeSnapshot of one disk. */
  volumeSnapshot(disk: string): string;
  /** The temporary PVC restored from a disk's snapshot, read by its transfer pod. */
  sourcePvc(disk: string): string;
  /** A disk's transfer pod; `attempt` counts retries from 0 so a retry never adopts a failed pod. */
  transferPod(disk: string, attempt: number): string;
}

/** The children of the VirtualMachineBackup named `job`. */
export function jobChildNames(job: string): JobChildNames {
  return {
    snapshotPod: childName(job, 'snap'),
    recoveryPoint: childName(job),
    volumeSnapshot: (disk) => childName(job, disk),
    sourcePvc: (disk) => childName(job, disk, 'src'),
    transferPod: (disk, attempt) => childName(job, disk, 'xfer', String(attempt)),
  };
}

/** The VirtualMachineBackup the scheduler creates for one VM in one schedule slot (UTC minute). */
export function scheduledJobName(policy: string, vm: string, slot: Date): string {
  const stamp = slot.toISOString().slice(0, 16).replace(/[-:T]/g, '');
  return childName(policy, vm, stamp);
}
