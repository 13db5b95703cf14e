// Queue deadlines: runs still QUEUED past their `expires_at` fail, before any attempt, in bounded batches.
import type { TaskError } from '../../protocol/schemas.ts';
import { json } from './records.ts';
import type { SqlClient } from './sql.ts';

/** The error name of a run that was not assigned by its queue deadline (Hatchet's `scheduleTimeout`). */
export const SCHEDULE_TIMEOUT = 'ScheduleTimeout';

/** Most runs one statement fails; a sweep runs a few such batches at most (see `expireQueuedRuns`). */
export const EXPIRY_BATCH = 500;
const MAX_BATCHES_PER_SWEEP = 20;

/**
 * Fails up to `$3` QUEUED runs whose deadline is at or before `$1`, earliest first, with the error `$2`; the
 * deadline stays on the run, which is what marks it as expired (dead.ts). No attempt is opened or counted.
 */
const EXPIRE_QUEUED = `UPDATE pw_runs SET state = 'FAILED', finished_at = $1, error = $2::jsonb
  WHERE id IN (
    SELECT id FROM pw_runs WHERE state = 'QUEUED' AND expires_at <= $1
    ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)
  RETURNING id`;

/** Looks before it writes: most sweeps find nothing, and a write statement costs more than an index probe. */
const ANY_EXPIRED = `SELECT 1 FROM pw_runs WHERE state = 'QUEUED' AND expires_at <= $1 LIMIT 1`;

/** Fails the expired queued runs, batch by batch up to a bound per call; the ids of those it failed. */
export async function expireQueuedRuns(sql: SqlClient, now: number): Promise<string[]> {
  if ((await sql.query(ANY_EXPIRED, [now])).length === 0) return [];
  const error: TaskError = {
    message: `not assigned to a worker by its queue deadline`,
    name: SCHEDULE_TIMEOUT,
    retryable: false,
  };
  const failed: string[] = [];
  for (let i = 0; i < MAX_BATCHES_PER_SWEEP; i++) {
    const rows = await sql.query<{ id: string }>(EXPIRE_QUEUED, [now, json(error), EXPIRY_BATCH]);
    failed.push(...rows.map((r) => r.id));
    if (rows.length < EXPIRY_BATCH) break;
  }
  return failed;
}
