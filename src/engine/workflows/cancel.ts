// Cancelling a workflow run: no task starts after the request; the task runs queued or running are cancelled.
import type { EngineCore } from '../core.ts';
import { cancelRunNow } from '../run-cancel.ts';
import {
  getWorkflowRun,
  requestWorkflowCancel,
  type WorkflowRunRecord,
  workflowTaskRuns,
} from '../store/workflow-runs.ts';

const LIVE = new Set(['QUEUED', 'ASSIGNED', 'RUNNING']);

/** Undefined when there is no such workflow run; an ended one is returned as it is. */
export async function cancelWorkflowRun(
  core: EngineCore,
  id: string,
): Promise<WorkflowRunRecord | undefined> {
  const requested = await requestWorkflowCancel(core.sql, id);
  if (!requested) return getWorkflowRun(core.sql, id);
  for (const run of await workflowTaskRuns(core.sql, id)) {
    if (LIVE.has(run.state)) await cancelRunNow(core, run.id);
  }
  // The cancelled runs wake an advance too; this one ends the tasks that never started, whatever that finds.
  await core.workflows.advance([requested.id]);
  return getWorkflowRun(core.sql, id);
}
