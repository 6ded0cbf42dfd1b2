// Live transfer progress as pure values: the wire format between a transfer pod and the operator (one
// Event per pod, named after it, whose annotation holds the latest sample), and how a sample lands on
// the job's status: the disk's entry (never backwards within one attempt) and the job's total.
import { Annotations } from '../api/constants.ts';
import type { Progress } from '../api/schema.ts';

/** One progress sample of a transfer: bytes processed out of the bytes it has to process. */
export interface TransferProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** The name of the Event a transfer pod keeps its latest progress in (one per pod, updated in place). */
export function progressEventName(podName: string): string {
  return `${podName}.progress`;
}

/** The annotation on that Event holding the sample as JSON (the message is for people). */
export const PROGRESS_ANNOTATION = Annotations.Progress;

/** Encodes a sample for the annotation. */
export function encodeProgress(p: TransferProgress): string {
  return JSON.stringify({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal });
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

/** Decodes an annotation value; undefined for anything that is not a well-formed sample. */
export function decodeProgress(raw: string | undefined): TransferProgress | undefined {
  if (raw === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const done = count((v as { bytesDone?: unknown }).bytesDone);
  const total = count((v as { bytesTotal?: unknown }).bytesTotal);
  if (done === undefined || total === undefined) return undefined;
  return { bytesDone: Math.min(done, total), bytesTotal: total };
}

/** bytesDone as a whole percentage of bytesTotal, rounded down so 100 means done. */
export function percentOf(done: number, total: number): number {
  if (total <= 0) return 0;
  return Math.min(100, Math.floor((done * 100) / total));
}

/** The status form of a sample. */
export function progressEntry(p: TransferProgress): Progress {
  return { bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, percent: percentOf(p.bytesDone, p.bytesTotal) };
}

/** A message for people, e.g. "read 4.0 MiB of 8.0 MiB (50%)". */
export function progressMessage(p: TransferProgress): string {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `read ${mib(p.bytesDone)} of ${mib(p.bytesTotal)} (${percentOf(p.bytesDone, p.bytesTotal)}%)`;
}

/** The parts of a disk's status entry that progress reads and writes. */
export interface DiskProgressEntry {
  readonly name: string;
  readonly phase?: string;
  readonly attempts?: number;
  readonly sizeBytes?: number;
  readonly progress?: Progress;
}

/** The job's total over its disks: known samples, else the disk's size still to do. */
export function jobProgress(disks: readonly DiskProgressEntry[]): Progress {
  let done = 0;
  let total = 0;
  for (const d of disks) {
    done += d.progress?.bytesDone ?? 0;
    total += d.progress?.bytesTotal ?? d.sizeBytes ?? 0;
  }
  return progressEntry({ bytesDone: done, bytesTotal: total });
}

/** What one progress write says: the disk, which attempt (0-based) and its latest sample. */
export interface DiskProgressUpdate {
  readonly disk: string;
  readonly attempt: number;
  readonly progress: TransferProgress;
}

/**
 * The job status with one disk's live progress applied, or the very same object when nothing changes:
 * the disk is unknown or finished, or the sample would move the same attempt backwards.
 */
export function withDiskProgress<S extends { disks?: readonly DiskProgressEntry[] }>(status: S | undefined, u: DiskProgressUpdate): S | undefined {
  const disks = status?.disks;
  const i = disks?.findIndex((d) => d.name === u.disk) ?? -1;
  const cur = disks?.[i];
  if (status === undefined || disks === undefined || cur === undefined) return status;
  if (cur.phase === 'Succeeded' || cur.phase === 'Failed') return status;
  const sameAttempt = cur.attempts === u.attempt + 1;
  if (sameAttempt && cur.progress !== undefined && cur.progress.bytesDone > u.progress.bytesDone) return status;
  const next = { ...cur, phase: 'Running', attempts: u.attempt + 1, progress: progressEntry(u.progress) };
  const all = disks.map((d, k) => (k === i ? next : d));
  return { ...status, disks: all, progress: jobProgress(all) };
}
