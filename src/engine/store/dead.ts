// Dead runs: FAILED ones, told apart by why, in SQL for filters and in code for views, by one rule.
import type { DeadReason } from '../../protocol/api.ts';
import type { RunRecord } from './records.ts';

/**
 * Why a FAILED run is dead, as a SQL expression over `pw_runs`. Claims clear a run's queue deadline when they first
 * assign it, and a retry clears it too, so a FAILED run that still has one failed before any attempt: it expired.
 * Every other FAILED run failed in an attempt, for good (retries used up, an error not retryable, a delivery cap).
 */
export const DEAD_REASON = `(CASE WHEN expires_at IS NOT NULL THEN 'expired' ELSE 'exhausted' END)`;

/** DEAD_REASON for a record; undefined unless the run is FAILED. */
export function deadReasonOf(run: Pick<RunRecord, 'state' | 'expiresAt'>): DeadReason | undefined {
  if (run.state !== 'FAILED') return undefined;
  return run.expiresAt !== null ? 'expired' : 'exhausted';
}
