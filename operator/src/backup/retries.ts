// How many transfer pods one disk may use: the policy's transfer.maxRetries ("how often a failed transfer
// pod is retried before the backup fails") plus the first run, never more than the operator's global limit.

/** The API's default of transfer.maxRetries, for a job without a policy. */
export const DEFAULT_MAX_RETRIES = 2;

/**
 * Transfer pods started per disk before the job fails: min(maxRetries + 1, globalLimit), at least 1. An
 * observation checkpointed by an older operator has no maxRetries; the global limit applies to it.
 */
export function transferAttempts(maxRetries: number | undefined, globalLimit: number): number {
  const limit = Math.max(1, Math.floor(globalLimit));
  if (typeof maxRetries !== 'number' || !Number.isFinite(maxRetries) || maxRetries < 0) return limit;
  return Math.min(Math.floor(maxRetries) + 1, limit);
}
