// One step of a workflow run, in one transaction: start the tasks its parents allow, end those they never will,
// and end the workflow run when nothing is left.

import { PushworkerError } from '../../protocol/errors.ts';
import type { TaskError } from '../../protocol/schemas.ts';
import type { TaskDeclarations } from '../declarations.ts';
import { newRunOf } from '../enqueue.ts';
import { newRunId } from '../ids.ts';
import { type RunLimits, resolveRunLimits } from '../run-limits.ts';
import { json } from '../store/records.ts';
import { insertRuns, type NewRun } from '../store/runs.ts';
import type { Sql, SqlClient } from '../store/sql.ts';
import { getWorkflowRun, type WorkflowRunRecord, workflowTaskRunsActedOn } from '../store/workflow-runs.ts';
import { dagStep } from './dag-step.ts';

export interface AdvanceOutcome {
  /** Task runs queued. */
  started: number;
  /** Task runs recorded as ended without running (below a failed parent, cancelled, limits unresolved). */
  ended: string[];
  /** Set when the workflow run ended in this step. */
  finished?: WorkflowRunRecord['state'];
}

/** The key that makes a task's run in a workflow run unique: an advance run twice queues it once. */
export const taskRunKey = (workflowRunId: string, task: string) => `workflow:${workflowRunId}:${task}`;

/**
 * Advances a workflow run. The workflow run's row is locked first, so two replicas finishing its last two parents at
 * once advance one after the other, and the second sees both parents completed.
 */
export async function advanceWorkflowRun(
  sql: Sql,
  declarations: TaskDeclarations,
  id: string,
  now = Date.now(),
): Promise<AdvanceOutcome> {
  return sql.transaction((tx) => advanceIn(tx, declarations.within(tx), id, now));
}

/**
 * The advance inside a transaction the caller holds (the enqueue's, so a workflow run never lacks its first tasks).
 * Given by id, the workflow run is read and locked; a record is one this transaction inserted, already its own.
 */
export async function advanceIn(
  tx: SqlClient,
  declarations: Pick<TaskDeclarations, 'of'>,
  run: string | WorkflowRunRecord,
  now: number,
): Promise<AdvanceOutcome> {
  const outcome: AdvanceOutcome = { started: 0, ended: [] };
  const workflowRun = typeof run === 'string' ? await getWorkflowRun(tx, run, { forUpdate: true }) : run;
  if (!workflowRun) return outcome;
  const { id } = workflowRun;
  // Each pass adds at least one task run; a task failed by its own limits ends its descendants on the next.
  // A pass that only queued runs is the last: a queued run lets no task start or end, nor the workflow run end.
  for (let pass = 0; pass <= workflowRun.definition.tasks.length; pass++) {
    const runs = await workflowTaskRunsActedOn(tx, id);
    const step =
      workflowRun.state === 'RUNNING'
        ? dagStep(workflowRun.definition, runs, workflowRun.cancelRequested)
        : NOTHING;
    const starting: NewRun[] = [];
    const ending = [...step.end];
    for (const { task, parentOutputs } of step.start) {
      const limits = await limitsOf(tx, declarations, task, workflowRun, now);
      if ('error' in limits) ending.push({ task, state: 'FAILED', error: limits.error });
      else starting.push(taskRunOf(workflowRun, task, parentOutputs, limits, now));
    }
    if (starting.length > 0) await insertRuns(tx, starting, now);
    outcome.started += starting.length;
    outcome.ended.push(...(await insertEnded(tx, workflowRun, ending, now)));
    if (ending.length > 0) continue;
    if (starting.length > 0) break;
    if (step.final) {
      await tx.query('UPDATE pw_workflow_runs SET state = $2, finished_at = $3 WHERE id = $1', [
        id,
        step.final,
        now,
      ]);
      outcome.finished = step.final;
    }
    break;
  }
  return outcome;
}

const NOTHING: ReturnType<typeof dagStep> = { start: [], end: [], final: undefined };

/** A key template the workflow input cannot fill fails the task's run instead of holding the workflow run. */
async function limitsOf(
  tx: SqlClient,
  declarations: Pick<TaskDeclarations, 'of'>,
  task: string,
  workflowRun: WorkflowRunRecord,
  now: number,
): Promise<RunLimits | { error: TaskError }> {
  const request = { task, input: workflowRun.input, metadata: workflowRun.metadata ?? undefined };
  try {
    const [limits] = await resolveRunLimits(tx, declarations, [request], now);
    return limits!;
  } catch (error) {
    if (!(error instanceof PushworkerError)) throw error;
    return { error: { name: error.code, message: error.message, retryable: false } };
  }
}

function taskRunOf(
  workflowRun: WorkflowRunRecord,
  task: string,
  parentOutputs: Record<string, unknown>,
  limits: RunLimits,
  now: number,
): NewRun {
  const sticky = workflowRun.definition.sticky;
  const request = {
    task,
    input: workflowRun.input,
    metadata: workflowRun.metadata ?? undefined,
    idempotencyKey: taskRunKey(workflowRun.id, task),
    ...(sticky ? { sticky: { key: `workflow:${workflowRun.id}`, mode: sticky } } : {}),
    // Every task run of a traced workflow run descends from its enqueue span (or its last retry's).
    ...(workflowRun.traceparent ? { traceparent: workflowRun.traceparent } : {}),
  };
  const times = { availableAt: now, expiresAt: null };
  return {
    ...newRunOf(request, times, limits, workflowRun.createdBy),
    workflowRunId: workflowRun.id,
    parentOutputs,
  };
}

/** Records tasks that will not run as ended runs, so that the workflow run shows each task's fate. */
async function insertEnded(
  tx: SqlClient,
  workflowRun: WorkflowRunRecord,
  ending: { task: string; state: 'FAILED' | 'CANCELLED'; error: TaskError }[],
  now: number,
): Promise<string[]> {
  if (ending.length === 0) return [];
  const rows = ending.map((e) => ({
    id: newRunId(),
    task: e.task,
    state: e.state,
    error: e.error,
    idempotency_key: taskRunKey(workflowRun.id, e.task),
  }));
  const inserted = await tx.query<{ id: string }>(
    `INSERT INTO pw_runs (id, task, input, metadata, state, error, idempotency_key, workflow_run_id, dag_pending,
       available_at, created_at, finished_at, created_by)
     SELECT x.id, x.task, $2::jsonb, $3::jsonb, x.state, x.error, x.idempotency_key, $4, false, $5, $5, $5, $6
     FROM jsonb_to_recordset($1::jsonb) AS x(id text, task text, state text, error jsonb, idempotency_key text)
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
    [
      JSON.stringify(rows),
      json(workflowRun.input ?? null),
      workflowRun.metadata ? JSON.stringify(workflowRun.metadata) : null,
      workflowRun.id,
      now,
      workflowRun.createdBy,
    ],
  );
  return inserted.map((r) => r.id);
}
