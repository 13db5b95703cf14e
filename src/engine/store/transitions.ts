// Run state changes after assignment outside worker events: push outcomes, lease expiry, timeouts.
import type { TaskError } from '../../protocol/schemas.ts';
import { json, type RunRecord, toRun } from './records.ts';
import { failedAttempt, type RetryPolicy } from './retry.ts';
import type { Sql, SqlClient } from './sql.ts';

/** Closes the current attempt as failed by the engine (a refused push, a deadline): see `failedAttempt`. */
export async function failAttempt(
  tx: SqlClient,
  run: RunRecord,
  error: TaskError,
  now: number,
  retry: RetryPolicy,
): Promise<boolean> {
  const failed = failedAttempt(run, error, now, retry);
  await tx.query(
    `UPDATE pw_runs SET state = $2, failures = $3, error = $4::jsonb, available_at = $5, finished_at = $6,
       ended_by_worker = false, lease_expires_at = NULL, deadline_at = NULL WHERE id = $1`,
    [run.id, failed.state, failed.failures, json(error), failed.availableAt, failed.finishedAt],
  );
  return failed.final;
}

/**
 * Puts an attempt back in the queue without spending a retry (lost lease, inactive worker, refused push).
 * Only runs still on their `attempt` move. The run takes its rate limit units again when it is pushed again: it
 * starts afresh then, in that push's window. A `refund` (the worker took nothing: `no_slot`, stopping) does not
 * count as a delivery either; otherwise a run pushed `maxDeliveries` times fails instead.
 */
export async function requeueRuns(
  sql: SqlClient,
  refs: { runId: string; attempt: number }[],
  o: { now: number; maxDeliveries: number; reason: string; refund?: boolean },
): Promise<{ requeued: string[]; failed: string[] }> {
  if (refs.length === 0) return { requeued: [], failed: [] };
  const refund = o.refund ? 1 : 0;
  // On `id = ANY` beside the recordset join, see "Bulk updates by id" in sql.ts.
  const rows = await sql.query<{ id: string; state: string }>(
    `UPDATE pw_runs r SET
       state = CASE WHEN $5::int = 0 AND r.deliveries >= $3::int THEN 'FAILED' ELSE 'QUEUED' END,
       finished_at = CASE WHEN $5::int = 0 AND r.deliveries >= $3::int THEN $2::float8 ELSE NULL END,
       error = CASE WHEN $5::int = 0 AND r.deliveries >= $3::int THEN $4::jsonb ELSE r.error END,
       deliveries = r.deliveries - $5::int,
       available_at = $2::float8, ended_by_worker = false, lease_expires_at = NULL, deadline_at = NULL,
       rate_units_try = NULL
     FROM jsonb_to_recordset($1::jsonb) AS x("runId" text, attempt int)
     WHERE r.id = x."runId" AND r.id = ANY($6::text[]) AND r.attempt = x.attempt AND r.state IN ('ASSIGNED', 'RUNNING')
     RETURNING r.id, r.state`,
    [
      JSON.stringify(refs),
      o.now,
      o.maxDeliveries,
      json({
        message: `gave up after ${o.maxDeliveries} deliveries: ${o.reason}`,
        name: 'Undeliverable',
        retryable: false,
      }),
      refund,
      refs.map((r) => r.runId),
    ],
  );
  return {
    requeued: rows.filter((r) => r.state === 'QUEUED').map((r) => r.id),
    failed: rows.filter((r) => r.state === 'FAILED').map((r) => r.id),
  };
}

/** Fails one attempt if it is still current and open (a push rejection); true when the run is now FAILED. */
export async function failRun(
  sql: Sql,
  ref: { runId: string; attempt: number },
  error: TaskError,
  now: number,
  retry: RetryPolicy,
): Promise<boolean> {
  return sql.transaction(async (tx) => {
    const rows = await tx.query(
      `SELECT * FROM pw_runs WHERE id = $1 AND attempt = $2 AND state IN ('ASSIGNED', 'RUNNING') FOR UPDATE`,
      [ref.runId, ref.attempt],
    );
    if (!rows[0]) return false;
    return failAttempt(tx, toRun(rows[0]), error, now, retry);
  });
}

/** Runs whose lease has expired, or whose worker went INACTIVE, as refs for `requeueRuns`. */
export async function findLostRuns(
  sql: SqlClient,
  now: number,
): Promise<{ runId: string; attempt: number }[]> {
  return sql.query<{ runId: string; attempt: number }>(
    `SELECT r.id AS "runId", r.attempt FROM pw_runs r LEFT JOIN pw_workers w ON w.id = r.worker_id
     WHERE r.state IN ('ASSIGNED', 'RUNNING') AND (r.lease_expires_at < $1 OR w.state = 'INACTIVE' OR w.id IS NULL)
     LIMIT 1000`,
    [now],
  );
}

export interface TimedOut {
  runId: string;
  attempt: number;
  workerId: string;
  final: boolean;
}

/** Fails running attempts past their deadline (a retryable `TimeoutError`). */
export async function expireDeadlines(sql: Sql, now: number, retry: RetryPolicy): Promise<TimedOut[]> {
  // Most sweeps find none: they look first, and open no transaction for nothing (on the embedded store a
  // transaction holds the one connection, and claims would wait for it).
  const due = await sql.query(`SELECT 1 FROM pw_runs WHERE state = 'RUNNING' AND deadline_at < $1 LIMIT 1`, [
    now,
  ]);
  if (due.length === 0) return [];
  return sql.transaction(async (tx) => {
    const rows = await tx.query(
      `SELECT * FROM pw_runs WHERE state = 'RUNNING' AND deadline_at < $1 LIMIT 500 FOR UPDATE SKIP LOCKED`,
      [now],
    );
    const out: TimedOut[] = [];
    for (const run of rows.map(toRun)) {
      const error = { message: `timed out after ${run.timeoutMs} ms`, name: 'TimeoutError', retryable: true };
      const final = await failAttempt(tx, run, error, now, retry);
      out.push({ runId: run.id, attempt: run.attempt, workerId: run.workerId!, final });
    }
    return out;
  });
}
