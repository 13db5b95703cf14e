// A grown store: many finished runs (with an attempt each) written straight into the tables, as weeks of work leave.
import type { SqlClient } from '../../src/engine/store/sql.ts';

export const SEEDED_TASK = 'seeded';
/** A task with one finished run in a hundred: a filter on it must not read the others. */
export const RARE_SEEDED_TASK = 'seeded-rare';
export const SEEDED_WORKER = 'seeded-worker';

/**
 * Writes `n` finished runs in batches, oldest first, the last finishing at `finishedBy`, one millisecond apart:
 * of every hundred, 90 COMPLETED, 9 FAILED, 1 CANCELLED, and one of task RARE_SEEDED_TASK. Each held by
 * SEEDED_WORKER, with one attempt.
 */
export async function seedFinishedRuns(sql: SqlClient, n: number, finishedBy: number): Promise<void> {
  const batch = 20_000;
  for (let from = 0; from < n; from += batch) {
    const to = Math.min(n, from + batch);
    await sql.query(
      `WITH g AS (SELECT i, $3::float8 - ($2::int - 1 - i) AS t FROM generate_series($1::int, $4::int - 1) AS i),
       runs AS (
         INSERT INTO pw_runs (id, task, input, state, attempt, deliveries, worker_id, slot_cost, slot_released,
           ended_by_worker, available_at, created_at, assigned_at, started_at, finished_at, output, error)
         SELECT 'seeded_' || i, CASE WHEN i % 100 = 50 THEN '${RARE_SEEDED_TASK}' ELSE '${SEEDED_TASK}' END,
           '{"message":"x"}'::json,
           CASE WHEN i % 100 < 90 THEN 'COMPLETED' WHEN i % 100 < 99 THEN 'FAILED' ELSE 'CANCELLED' END,
           1, 1, '${SEEDED_WORKER}', 1, true, true, t - 30, t - 30, t - 20, t - 10, t,
           CASE WHEN i % 100 < 90 THEN '{"message":"x"}'::json END,
           CASE WHEN i % 100 >= 90 THEN '{"message":"boom","name":"Error","retryable":false}'::jsonb END
         FROM g
         RETURNING id, worker_id, assigned_at, started_at, finished_at, state, error
       )
       INSERT INTO pw_attempts (run_id, attempt, worker_id, assigned_at, started_at, ended_at, outcome, error)
       SELECT id, 1, worker_id, assigned_at, started_at, finished_at, lower(state), error FROM runs`,
      [from, n, finishedBy, to],
    );
  }
}
