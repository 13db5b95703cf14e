// Workflow runs rendered as API views: the run, and each task of its DAG with the task run it has, if any.
import type { WorkflowRunView, WorkflowTaskView } from '../../protocol/workflows.ts';
import type { RunRecord } from '../store/records.ts';
import type { WorkflowRunRecord } from '../store/workflow-runs.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function workflowRunSummary(run: WorkflowRunRecord): Omit<WorkflowRunView, 'tasks' | 'output'> {
  return {
    id: run.id,
    workflow: run.workflow,
    state: run.state,
    input: run.input,
    metadata: run.metadata,
    idempotencyKey: run.idempotencyKey,
    createdAt: iso(run.createdAt)!,
    finishedAt: iso(run.finishedAt),
  };
}

/** Tasks in the order the workflow declares them. */
export function workflowRunView(run: WorkflowRunRecord, taskRuns: RunRecord[]): WorkflowRunView {
  const byTask = new Map(taskRuns.map((r) => [r.task, r]));
  const output: Record<string, unknown> = {};
  const tasks = run.definition.tasks.map(({ task, parents }): WorkflowTaskView => {
    const taskRun = byTask.get(task);
    if (!taskRun) return { task, parents, state: 'PENDING', runId: null };
    if (taskRun.state === 'COMPLETED') output[task] = taskRun.output;
    return {
      task,
      parents,
      state: taskRun.state,
      runId: taskRun.id,
      ...(taskRun.state === 'COMPLETED' ? { output: taskRun.output } : {}),
      ...(taskRun.error && taskRun.state !== 'COMPLETED' ? { error: taskRun.error } : {}),
    };
  });
  return { ...workflowRunSummary(run), output, tasks };
}
