// Queuing finished runs again, one by id or those a filter selects, each with a fresh retry budget.
import type { DeadReason } from '../../protocol/api.ts';
import { DEAD_REASON } from './dead.ts';
import { type RunRecord, toRun } from './records.ts';
import type { SqlClient } from './sql.ts';

/**
 * The columns a retried run starts again from: queued now, with no worker, result or failures, and no queue
 * deadline (an expired run replayed must not expire again at once; its delay is over too). The attempt number
 * goes on, so that each attempt keeps its own place in the run's history and stale events of an earlier one stay
 * stale. A durable run starts afresh: its journal goes (an engine retry after a failure keeps it; this one is
 * asked for because the run is to be done again), and takes its rate limit units again. A cancelled run retried
 * is no longer cancelled: what is left of the cascade to its children stops (those cancelled stay cancelled).
 */
export const QUEUE_AGAIN = `state = 'QUEUED', failures = 0, deliveries = 0, worker_id = NULL, slot_released = false,
  ended_by_worker = false, available_at = $2, lease_expires_at = NULL, deadline_at = NULL, assigned_at = NULL,
  started_at = NULL, finished_at = NULL, output = NULL, error = NULL, expires_at = NULL, journal = NULL,
  waiting = NULL, rate_units_try = NULL, cancel_children = false`;

/** A workflow's task run is retried with its workflow run (see workflow-runs.ts), not alone. */
export type RetryOutcome =
  | { run: RunRecord }
  | { notFinished: RunRecord }
  | { inWorkflow: RunRecord }
  | undefined;

/**
 * Queues one finished run again; a run that has not finished is returned as it is. A `traceparent` (the retry's
 * span) becomes the run's trace.
 */
export async function retryRun(
  sql: SqlClient,
  id: string,
  now: number,
  traceparent?: string,
): Promise<RetryOutcome> {
  const rows = await sql.query(
    `UPDATE pw_runs SET ${QUEUE_AGAIN}, traceparent = COALESCE($3, traceparent)
     WHERE id = $1 AND state IN ('FAILED', 'CANCELLED', 'COMPLETED') AND workflow_run_id IS NULL RETURNING *`,
    [id, now, traceparent ?? null],
  );
  if (rows[0]) return { run: toRun(rows[0]) };
  const current = await sql.query('SELECT * FROM pw_runs WHERE id = $1', [id]);
  if (!current[0]) return undefined;
  const run = toRun(current[0]);
  return run.workflowRunId ? { inWorkflow: run } : { notFinished: run };
}

export interface RetryFilter {
  states: ('FAILED' | 'CANCELLED' | 'COMPLETED')[];
  /** Of the FAILED runs, only the dead ones of these reasons. */
  dead?: DeadReason[] | undefined;
  task?: string | undefined;
  limit: number;
}

/*
 * The bulk retry, with a task or without, each state's runs read oldest first through its own index range,
 * LATERAL, and merged (see the run list in runs.ts): $1 the states, $2 now, $3 the most runs, $4 the dead reasons
 * (null: any), $5 the task. The ids go to the update as an array, which it looks up by primary key: as a subquery
 * joined to the table, the planner may meet them with a scan of every run.
 */
const DEAD_ONLY = `($4::text[] IS NULL OR (r.state = 'FAILED' AND ${DEAD_REASON} = ANY($4::text[])))`;

const RETRY_RUNS_IN_STATES = `UPDATE pw_runs SET ${QUEUE_AGAIN}
  WHERE id = ANY(ARRAY(
    SELECT q.id FROM unnest($1::text[]) AS s(state) CROSS JOIN LATERAL (
      SELECT r.id, r.seq FROM pw_runs r WHERE r.state = s.state AND ${DEAD_ONLY} AND r.workflow_run_id IS NULL
      ORDER BY r.seq LIMIT $3 FOR UPDATE OF r SKIP LOCKED
    ) AS q
    ORDER BY q.seq LIMIT $3))
  RETURNING *`;

const RETRY_RUNS_OF_TASK_IN_STATES = `UPDATE pw_runs SET ${QUEUE_AGAIN}
  WHERE id = ANY(ARRAY(
    SELECT q.id FROM unnest($1::text[]) AS s(state) CROSS JOIN LATERAL (
      SELECT r.id, r.seq FROM pw_runs r WHERE r.task = $5 AND r.state = s.state AND ${DEAD_ONLY}
        AND r.workflow_run_id IS NULL
      ORDER BY r.seq LIMIT $3 FOR UPDATE OF r SKIP LOCKED
    ) AS q
    ORDER BY q.seq LIMIT $3))
  RETURNING *`;

/** Queues again up to `limit` finished runs in the given states (and dead reasons), oldest first. */
export async function retryRuns(sql: SqlClient, f: RetryFilter, now: number): Promise<RunRecord[]> {
  const states = [...new Set(f.states)];
  const dead = f.dead?.length ? f.dead : null;
  const rows =
    f.task === undefined
      ? await sql.query(RETRY_RUNS_IN_STATES, [states, now, f.limit, dead])
      : await sql.query(RETRY_RUNS_OF_TASK_IN_STATES, [states, now, f.limit, dead, f.task]);
  return rows.map(toRun);
}

/** Gives each run its trace: `traceparents` by run id (the bulk retry's spans, set in its transaction). */
export async function setTraceparents(sql: SqlClient, traceparents: Map<string, string>): Promise<void> {
  if (traceparents.size === 0) return;
  await sql.query(
    `UPDATE pw_runs r SET traceparent = t.traceparent
     FROM unnest($1::text[], $2::text[]) AS t(id, traceparent) WHERE r.id = t.id`,
    [[...traceparents.keys()], [...traceparents.values()]],
  );
}
