// The cancelling concurrency strategies: a key over its limit cancels its newest runs or its oldest ones.
import type { ConcurrencyStrategy } from '../../protocol/schemas.ts';
import { json } from './records.ts';
import { CANCEL_RUNS, type CancelOutcome, cancelOutcomes } from './runs.ts';
import type { Sql } from './sql.ts';

export interface CancellingKey {
  key: string;
  limit: number;
  strategy: Extract<ConcurrencyStrategy, 'CANCEL_IN_PROGRESS' | 'CANCEL_NEWEST'>;
}

/** Locks the concurrency key $1, as the scan claim's key lock does (claims/keys.ts), waiting for it. */
export const LOCK_CONCURRENCY_KEY = `SELECT pg_advisory_xact_lock(hashtext('pushworker:c:' || $1))`;

/** The runs of the concurrency key $1 that are queued, assigned or running, oldest first, locked. */
export const READ_OPEN_RUNS_OF_KEY = `SELECT id, state, worker_id, attempt FROM pw_runs
  WHERE concurrency_key = $1 AND state IN ('QUEUED', 'ASSIGNED', 'RUNNING')
  ORDER BY seq FOR UPDATE`;

/**
 * Brings each key back within its limit, counting its queued runs with its assigned and running ones (under a
 * cancelling strategy a run never waits on its key, so a queued one is about to start): `CANCEL_NEWEST` cancels
 * the newest runs beyond the limit, `CANCEL_IN_PROGRESS` the oldest ones. A run cancelled on a worker says which,
 * so that it is told to stop.
 */
export async function applyCancellingStrategies(
  sql: Sql,
  keys: CancellingKey[],
  now: number,
): Promise<CancelOutcome[]> {
  if (keys.length === 0) return [];
  return sql.transaction(async (tx) => {
    const outcomes: CancelOutcome[] = [];
    // Keys in one order, so that two enqueues never wait on each other's keys.
    for (const { key, limit, strategy } of [...keys].sort((a, b) => a.key.localeCompare(b.key))) {
      await tx.query(LOCK_CONCURRENCY_KEY, [key]);
      const open = await tx.query(READ_OPEN_RUNS_OF_KEY, [key]);
      if (open.length <= limit) continue;
      const victims = strategy === 'CANCEL_NEWEST' ? open.slice(limit) : open.slice(0, open.length - limit);
      const error = {
        message: `cancelled by the concurrency strategy ${strategy} of the key "${key}" (limit ${limit})`,
        name: 'Cancelled',
        retryable: false,
      };
      const cancelled = await tx.query(CANCEL_RUNS, [victims.map((v) => v.id), now, json(error)]);
      outcomes.push(...cancelOutcomes(cancelled, victims));
    }
    return outcomes;
  });
}
