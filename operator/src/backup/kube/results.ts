// Reading what the snapshot and transfer pods report in their termination messages, and how a pod ended.
// Messages are checked field by field: a truncated or foreign message is a clear error, never a guess.
import type { V1Pod } from '@kubernetes/client-node';
import { Reasons } from '../../api/constants.ts';
import type { FreezeWindowResult } from '../freeze-window.ts';
import type { DiskTransferResult } from '../ports.ts';

/** How a pod's single container ended, or that it has not yet. */
export type PodEnd =
  | { readonly state: 'running' }
  | { readonly state: 'succeeded'; readonly message: string }
  | { readonly state: 'failed'; readonly message: string; readonly exitCode: number | undefined };

/** The end of a pod with restartPolicy Never, from its status. */
export function podEnd(pod: V1Pod): PodEnd {
  const phase = pod.status?.phase;
  const term = pod.status?.containerStatuses?.[0]?.state?.terminated;
  if (phase === 'Succeeded') return { state: 'succeeded', message: term?.message ?? '' };
  if (phase === 'Failed') return { state: 'failed', message: failureMessage(pod), exitCode: term?.exitCode };
  return { state: 'running' };
}

function failureMessage(pod: V1Pod): string {
  const term = pod.status?.containerStatuses?.[0]?.state?.terminated;
  return term?.message?.trim() || pod.status?.message || term?.reason || 'no message';
}

function parseJson(text: string, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text.trim());
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new Error(`${what} did not end with a JSON report in its termination message: ${JSON.stringify(text.slice(0, 200))}`);
}

const FREEZE_STATES = new Set(['ok', 'failed', 'timedOut', 'skipped']);
const HOOK_STATES = new Set(['ok', 'failed', 'none']);

/** Parses the snapshot pod's FreezeWindowResult. */
export function parseFreezeReport(text: string): FreezeWindowResult {
  const v = parseJson(text, 'the snapshot pod');
  const snaps = Array.isArray(v.snapshots) ? v.snapshots : undefined;
  if (!FREEZE_STATES.has(String(v.freeze)) || !HOOK_STATES.has(String(v.hooks)) || !snaps) {
    throw new Error(`the snapshot pod's report is incomplete: ${JSON.stringify(v).slice(0, 300)}`);
  }
  const snapshots = snaps.map((s: { disk?: unknown; snapshotName?: unknown }) => {
    if (typeof s.disk !== 'string' || typeof s.snapshotName !== 'string') throw new Error(`bad snapshot entry ${JSON.stringify(s)}`);
    return { disk: s.disk, snapshotName: s.snapshotName };
  });
  return {
    freeze: v.freeze as FreezeWindowResult['freeze'],
    hooks: v.hooks as FreezeWindowResult['hooks'],
    snapshots,
    frozenMs: typeof v.frozenMs === 'number' ? v.frozenMs : 0,
    ...(typeof v.detail === 'string' ? { detail: v.detail } : {}),
    ...(typeof v.thawError === 'string' ? { thawError: v.thawError } : {}),
  };
}

function num(v: Record<string, unknown>, key: string): number {
  const n = v[key];
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`the transfer pod's report has no number ${key}`);
  return n;
}

/** Maps the mover's `disk backup --json` result to the job's per-disk result (type, detection, fallback). */
export function parseTransferReport(text: string, forceFull: boolean): DiskTransferResult {
  const v = parseJson(text, 'the transfer pod');
  const type = v.type;
  const manifestId = v.backupId;
  if (typeof manifestId !== 'string' || typeof type !== 'string') throw new Error(`the transfer pod's report has no backupId/type: ${text.slice(0, 200)}`);
  const reason = typeof v.reason === 'string' ? v.reason : '';
  const parent = typeof v.parentId === 'string' ? { parentManifestId: v.parentId } : {};
  const counts = { manifestId, bytesRead: num(v, 'bytesRead'), bytesUploaded: num(v, 'bytesUploaded') };
  if (type === 'incremental-changed-blocks') return { type: 'Incremental', changeDetection: 'ChangedBlockList', ...parent, ...counts };
  if (type === 'incremental-hash') {
    return { type: 'Incremental', changeDetection: 'HashCompare', fallbackReason: Reasons.ChangedBlocksUnavailable, fallbackMessage: reason.slice(0, 1024), ...parent, ...counts };
  }
  if (type !== 'full') throw new Error(`the transfer pod reported an unknown backup type ${JSON.stringify(type)}`);
  // The mover's reason text says which (no earlier backup, a parent with another block size); it goes into the message.
  const fallbackReason = forceFull ? Reasons.FullRequested : Reasons.NoParent;
  return { type: 'Full', changeDetection: 'None', fallbackReason, fallbackMessage: reason.slice(0, 1024), ...counts };
}
