// Retention: finished runs older than the retention period are deleted, their attempts and task log lines with
// them, a batch at a time.
import type { SqlClient } from './sql.ts';

/**
 * Deletes up to $2 runs that finished (COMPLETED, FAILED, CANCELLED) before $1, oldest first, through the index
 * of finished runs by `finished_at`; their attempts and task log lines go with them (ON DELETE CASCADE). SKIP
 * LOCKED: replicas sweeping at once take disjoint batches and never wait on each other, and a run that is being
 * retried (its row locked, or no longer finished when the lock is taken) is left alone. The state list is the
 * terminal states of the protocol, written out so that it matches the index's predicate. A task run of a workflow
 * run still running is kept: the workflow run's next step reads it (a parent's row gone would look like a task not
 * run). A cancelled run whose children are still to be cancelled is kept too: the cascade finds them by it.
 */
export const DELETE_EXPIRED_RUNS = `WITH expired AS (
    SELECT id FROM pw_runs
    WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED') AND finished_at < $1 AND NOT cancel_children
      AND (workflow_run_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM pw_workflow_runs w WHERE w.id = pw_runs.workflow_run_id AND w.state = 'RUNNING'))
    ORDER BY finished_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ),
  deleted AS (
    DELETE FROM pw_runs WHERE id = ANY(ARRAY(SELECT id FROM expired)) RETURNING 1
  )
  SELECT count(*)::int AS n FROM deleted`;

export interface RetentionOptions {
  /** Runs that finished before this time are deleted. */
  before: number;
  /** Most runs one statement deletes. */
  batchSize: number;
  /** Most statements in one call: a backlog is deleted over several calls, never holding the store for long. */
  maxStatements: number;
}

/**
 * Deletes expired runs in up to `maxStatements` statements of up to `batchSize` runs each, each its own
 * transaction, stopping at the first that finds fewer than a batch. Returns how many runs it deleted.
 */
export function deleteExpiredRuns(sql: SqlClient, o: RetentionOptions): Promise<number> {
  return deleteInBatches(sql, DELETE_EXPIRED_RUNS, o);
}

/** Runs `statement` ($1 the cut-off time, $2 the batch size, answering `n` deleted) up to `maxStatements` times. */
async function deleteInBatches(sql: SqlClient, statement: string, o: RetentionOptions): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < o.maxStatements; i++) {
    const [row] = await sql.query<{ n: number }>(statement, [o.before, o.batchSize]);
    const n = row?.n ?? 0;
    deleted += n;
    if (n < o.batchSize) break;
  }
  return deleted;
}

/** Deletes up to $2 published events stored before $1, oldest first; SKIP LOCKED as for runs. */
export const DELETE_EXPIRED_EVENTS = `WITH expired AS (
    SELECT id FROM pw_events WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
  ),
  deleted AS (
    DELETE FROM pw_events WHERE id = ANY(ARRAY(SELECT id FROM expired)) RETURNING 1
  )
  SELECT count(*)::int AS n FROM deleted`;

/** Deletes expired events as `deleteExpiredRuns` deletes runs; they are kept as long as finished runs. */
export function deleteExpiredEvents(sql: SqlClient, o: RetentionOptions): Promise<number> {
  return deleteInBatches(sql, DELETE_EXPIRED_EVENTS, o);
}

/** Deletes up to $2 workflow runs that ended before $1, oldest first; their task runs go by their own retention. */
export const DELETE_EXPIRED_WORKFLOW_RUNS = `WITH expired AS (
    SELECT id FROM pw_workflow_runs WHERE state <> 'RUNNING' AND finished_at < $1 ORDER BY finished_at LIMIT $2
    FOR UPDATE SKIP LOCKED
  ),
  deleted AS (
    DELETE FROM pw_workflow_runs WHERE id = ANY(ARRAY(SELECT id FROM expired)) RETURNING 1
  )
  SELECT count(*)::int AS n FROM deleted`;

export function deleteExpiredWorkflowRuns(sql: SqlClient, o: RetentionOptions): Promise<number> {
  return deleteInBatches(sql, DELETE_EXPIRED_WORKFLOW_RUNS, o);
}
