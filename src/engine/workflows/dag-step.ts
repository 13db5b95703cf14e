// What a workflow run does next, from its DAG and the task runs it has: pure, so every rule is tested alone.
import type { RunState, TaskError } from '../../protocol/schemas.ts';
import { topologicalOrder, type WorkflowManifest } from '../../protocol/workflow-manifest.ts';
import type { WorkflowRunState } from '../../protocol/workflows.ts';

export interface TaskRunState {
  task: string;
  state: RunState;
  output: unknown;
}

export interface DagStep {
  /** Tasks whose parents have all completed: each gets a run with its parents' outputs. */
  start: { task: string; parentOutputs: Record<string, unknown> }[];
  /** Tasks that will never run, recorded as ended: below a failed or cancelled parent, or after a cancel. */
  end: { task: string; state: 'FAILED' | 'CANCELLED'; error: TaskError }[];
  /** The workflow run's end, once every task has ended. */
  final: Exclude<WorkflowRunState, 'RUNNING'> | undefined;
}

const ENDED = new Set<RunState>(['COMPLETED', 'FAILED', 'CANCELLED']);

/**
 * Walks the DAG parents first, so that a task ended here ends its descendants in the same step. A task runs when
 * every parent completed; as soon as one parent has failed it fails as `ParentFailed`, whatever its other parents
 * do (below a cancelled parent, or not started when the workflow run is cancelled, it is cancelled). The run ends cancelled when cancelled,
 * else failed when any task failed, else cancelled when any was, else completed.
 */
export function dagStep(
  definition: WorkflowManifest,
  runs: readonly TaskRunState[],
  cancelRequested: boolean,
): DagStep {
  const status = new Map(runs.map((r) => [r.task, r]));
  const start: DagStep['start'] = [];
  const end: DagStep['end'] = [];
  for (const t of topologicalOrder(definition.tasks) ?? []) {
    if (status.has(t.task)) continue;
    const parents = t.parents.map((p) => status.get(p));
    const failed = parents.find((p) => p?.state === 'FAILED');
    const cancelled = parents.find((p) => p?.state === 'CANCELLED');
    if (cancelRequested) {
      end.push(ended(t.task, 'CANCELLED', 'WorkflowCancelled', 'the workflow run was cancelled'));
    } else if (failed) {
      end.push(ended(t.task, 'FAILED', 'ParentFailed', `parent task "${failed.task}" failed`));
    } else if (cancelled) {
      end.push(
        ended(t.task, 'CANCELLED', 'ParentCancelled', `parent task "${cancelled.task}" was cancelled`),
      );
    } else if (parents.every((p) => p?.state === 'COMPLETED')) {
      start.push({
        task: t.task,
        parentOutputs: Object.fromEntries(parents.map((p) => [p!.task, p!.output])),
      });
    } else continue;
    const last = end.at(-1);
    if (last?.task === t.task) status.set(t.task, { task: t.task, state: last.state, output: undefined });
  }
  return {
    start,
    end,
    final: start.length === 0 ? finalState(definition, status, cancelRequested) : undefined,
  };
}

function ended(
  task: string,
  state: 'FAILED' | 'CANCELLED',
  name: string,
  message: string,
): DagStep['end'][number] {
  return { task, state, error: { name, message, retryable: false } };
}

function finalState(
  definition: WorkflowManifest,
  status: Map<string, TaskRunState>,
  cancelRequested: boolean,
): DagStep['final'] {
  const states = definition.tasks.map((t) => status.get(t.task)?.state);
  if (states.some((s) => s === undefined || !ENDED.has(s))) return undefined;
  if (cancelRequested) return 'CANCELLED';
  if (states.includes('FAILED')) return 'FAILED';
  if (states.includes('CANCELLED')) return 'CANCELLED';
  return 'COMPLETED';
}
