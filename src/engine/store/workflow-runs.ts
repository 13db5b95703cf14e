// Workflow rows: the DAGs workers declare, workflow runs and the task runs of each.
import type { WorkflowManifest } from '../../protocol/workflow-manifest.ts';
import type { WorkflowRunState } from '../../protocol/workflows.ts';
import { type RunRecord, toRun } from './records.ts';
import { QUEUE_AGAIN } from './retries.ts';
import type { Row, SqlClient } from './sql.ts';

export interface WorkflowRunRecord {
  id: string;
  seq: number;
  workflow: string;
  /** The DAG as it was when the run was enqueued: a worker declaring another later does not change this run. */
  definition: WorkflowManifest;
  input: unknown;
  metadata: Record<string, unknown> | null;
  state: WorkflowRunState;
  idempotencyKey: string | null;
  cancelRequested: boolean;
  createdBy: string | null;
  createdAt: number;
  finishedAt: number | null;
  /** The W3C traceparent every task run's spans descend from, when the workflow run is traced. */
  traceparent: string | null;
}

function toWorkflowRun(row: Row): WorkflowRunRecord {
  return {
    id: row.id as string,
    seq: Number(row.seq),
    workflow: row.workflow as string,
    definition: row.definition as WorkflowManifest,
    input: row.input,
    metadata: (row.metadata as Record<string, unknown> | null) ?? null,
    state: row.state as WorkflowRunState,
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    cancelRequested: row.cancel_requested as boolean,
    createdBy: (row.created_by as string | null) ?? null,
    createdAt: row.created_at as number,
    finishedAt: (row.finished_at as number | null) ?? null,
    traceparent: (row.traceparent as string | null) ?? null,
  };
}

/** The workflow as the worker heard from last declares it (an ACTIVE one before others). */
export async function findWorkflow(sql: SqlClient, name: string): Promise<WorkflowManifest | undefined> {
  const rows = await sql.query<{ definition: WorkflowManifest }>(
    `SELECT wf AS definition FROM pw_workers w, jsonb_array_elements(w.workflows) wf
     WHERE wf ->> 'name' = $1
     ORDER BY (w.state = 'ACTIVE' AND NOT w.paused) DESC, w.last_heartbeat_at DESC LIMIT 1`,
    [name],
  );
  return rows[0]?.definition;
}

/** Every workflow some worker declares, by name, each as its latest declaration says. */
export async function listWorkflows(sql: SqlClient): Promise<WorkflowManifest[]> {
  const rows = await sql.query<{ definition: WorkflowManifest }>(
    `SELECT DISTINCT ON (wf ->> 'name') wf AS definition FROM pw_workers w, jsonb_array_elements(w.workflows) wf
     ORDER BY wf ->> 'name', (w.state = 'ACTIVE' AND NOT w.paused) DESC, w.last_heartbeat_at DESC`,
  );
  return rows.map((r) => r.definition);
}

export interface NewWorkflowRun {
  id: string;
  definition: WorkflowManifest;
  input: unknown;
  metadata?: Record<string, unknown> | undefined;
  idempotencyKey?: string | undefined;
  createdBy: string | null;
  traceparent?: string | undefined;
}

/** Inserts the run, or returns the one enqueued before with the same idempotency key (`created: false`). */
export async function insertWorkflowRun(
  tx: SqlClient,
  run: NewWorkflowRun,
  now: number,
): Promise<{ run: WorkflowRunRecord; created: boolean }> {
  const inserted = await tx.query(
    `INSERT INTO pw_workflow_runs (id, workflow, definition, input, metadata, state, idempotency_key, created_by,
       created_at, traceparent)
     VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, 'RUNNING', $6, $7, $8, $9)
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
    [
      run.id,
      run.definition.name,
      JSON.stringify(run.definition),
      JSON.stringify(run.input ?? null),
      run.metadata ? JSON.stringify(run.metadata) : null,
      run.idempotencyKey ?? null,
      run.createdBy,
      now,
      run.traceparent ?? null,
    ],
  );
  if (inserted[0]) return { run: toWorkflowRun(inserted[0]), created: true };
  const prior = await tx.query('SELECT * FROM pw_workflow_runs WHERE idempotency_key = $1', [
    run.idempotencyKey,
  ]);
  if (!prior[0])
    throw new Error(`workflow run ${run.id} was neither inserted nor found by its idempotency key`);
  return { run: toWorkflowRun(prior[0]), created: false };
}

export async function getWorkflowRun(
  sql: SqlClient,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<WorkflowRunRecord | undefined> {
  const rows = await sql.query(
    `SELECT * FROM pw_workflow_runs WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ? toWorkflowRun(rows[0]) : undefined;
}

/** The task runs of a workflow run, oldest first. */
export async function workflowTaskRuns(sql: SqlClient, workflowRunId: string): Promise<RunRecord[]> {
  const rows = await sql.query('SELECT * FROM pw_runs WHERE workflow_run_id = $1 ORDER BY seq', [
    workflowRunId,
  ]);
  return rows.map(toRun);
}

/**
 * The task runs of a workflow run, oldest first, read by its advance under the workflow run's lock: those ended are
 * marked acted on in the same statement (its snapshot is the read's, so it marks only what the read shows ended).
 */
export async function workflowTaskRunsActedOn(tx: SqlClient, workflowRunId: string): Promise<RunRecord[]> {
  const rows = await tx.query(
    `WITH acted AS (
       UPDATE pw_runs SET dag_pending = false
       WHERE workflow_run_id = $1 AND dag_pending AND state IN ('COMPLETED', 'FAILED', 'CANCELLED')
     )
     SELECT * FROM pw_runs WHERE workflow_run_id = $1 ORDER BY seq`,
    [workflowRunId],
  );
  return rows.map(toRun);
}

export interface WorkflowRunFilter {
  workflow?: string | undefined;
  states?: WorkflowRunState[] | undefined;
  limit: number;
  beforeSeq?: number | undefined;
}

/** Workflow runs newest first; few enough beside task runs that one statement with optional filters serves. */
export async function listWorkflowRuns(sql: SqlClient, f: WorkflowRunFilter): Promise<WorkflowRunRecord[]> {
  const rows = await sql.query(
    `SELECT * FROM pw_workflow_runs
     WHERE ($1::text IS NULL OR workflow = $1) AND ($2::text[] IS NULL OR state = ANY($2::text[]))
       AND seq < $3::bigint
     ORDER BY seq DESC LIMIT $4`,
    [
      f.workflow ?? null,
      f.states?.length ? f.states : null,
      String(f.beforeSeq ?? '9223372036854775807'),
      f.limit,
    ],
  );
  return rows.map(toWorkflowRun);
}

/** Marks a running workflow run cancelled-to-be: its advance starts no task after this. */
export async function requestWorkflowCancel(
  sql: SqlClient,
  id: string,
): Promise<WorkflowRunRecord | undefined> {
  const rows = await sql.query(
    `UPDATE pw_workflow_runs SET cancel_requested = true WHERE id = $1 AND state = 'RUNNING' RETURNING *`,
    [id],
  );
  return rows[0] ? toWorkflowRun(rows[0]) : undefined;
}

/** Workflow runs with an ended task run not yet acted on: what a lost wake-up leaves for the sweeper. */
export async function workflowRunsPending(sql: SqlClient, limit = 100): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    `SELECT DISTINCT workflow_run_id AS id FROM (SELECT workflow_run_id FROM pw_runs
       WHERE dag_pending AND state IN ('COMPLETED', 'FAILED', 'CANCELLED') LIMIT $1) pending`,
    [limit],
  );
  return rows.map((r) => r.id);
}

/** Of these runs, the workflow runs of those that ended and are not yet acted on. */
export async function workflowRunsOf(sql: SqlClient, runIds: string[]): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    `SELECT DISTINCT workflow_run_id AS id FROM pw_runs
     WHERE id = ANY($1::text[]) AND dag_pending AND state IN ('COMPLETED', 'FAILED', 'CANCELLED')`,
    [runIds],
  );
  return rows.map((r) => r.id);
}

/** The state of each workflow run still stored, by id. */
export async function workflowRunStatesOf(
  sql: SqlClient,
  ids: string[],
): Promise<Map<string, WorkflowRunState>> {
  if (ids.length === 0) return new Map();
  const rows = await sql.query<{ id: string; state: WorkflowRunState }>(
    'SELECT id, state FROM pw_workflow_runs WHERE id = ANY($1::text[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.state]));
}

/**
 * Re-opens an ended workflow run: its failed and cancelled task runs are queued again (a fresh retry budget, and
 * ended runs to act on), the tasks that never reached a worker are forgotten (the next advance starts them again
 * when their parents complete), and the run is RUNNING. Undefined when there is no such run; a running one is
 * returned as it is, with `reopened` false. A `traceparent` (the retry's span) becomes the trace of the run and
 * of the task runs queued again.
 */
export async function reopenWorkflowRun(
  tx: SqlClient,
  id: string,
  now: number,
  traceparent?: string,
): Promise<{ run: WorkflowRunRecord; reopened: boolean } | undefined> {
  const run = await getWorkflowRun(tx, id, { forUpdate: true });
  if (!run || run.state === 'RUNNING') return run && { run, reopened: false };
  await tx.query(
    `DELETE FROM pw_runs WHERE workflow_run_id = $1 AND state IN ('FAILED', 'CANCELLED') AND attempt = 0`,
    [id],
  );
  await tx.query(
    `UPDATE pw_runs SET ${QUEUE_AGAIN}, dag_pending = true, traceparent = COALESCE($3, traceparent)
     WHERE workflow_run_id = $1 AND state IN ('FAILED', 'CANCELLED')`,
    [id, now, traceparent ?? null],
  );
  const rows = await tx.query(
    `UPDATE pw_workflow_runs SET state = 'RUNNING', finished_at = NULL, cancel_requested = false,
       traceparent = COALESCE($2, traceparent)
     WHERE id = $1 RETURNING *`,
    [id, traceparent ?? null],
  );
  return { run: toWorkflowRun(rows[0]!), reopened: true };
}
