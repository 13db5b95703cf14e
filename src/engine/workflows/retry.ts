// Retrying a workflow run: its failed and cancelled tasks run again, and the tasks below them when they complete.
import type { EngineCore } from '../core.ts';
import { getWorkflowRun, reopenWorkflowRun, type WorkflowRunRecord } from '../store/workflow-runs.ts';
import { advanceIn, declaredFor } from './advance.ts';

/** Undefined when there is no such workflow run; `reopened` false for one still running (nothing changes). */
export async function retryWorkflowRun(
  core: EngineCore,
  id: string,
): Promise<{ run: WorkflowRunRecord; reopened: boolean } | undefined> {
  const known = await getWorkflowRun(core.sql, id);
  if (!known) return undefined;
  const now = Date.now();
  const declared = await declaredFor(core.declarations, known.definition, now);
  const outcome = await core.sql.transaction(async (tx) => {
    const reopened = await reopenWorkflowRun(tx, id, now);
    if (!reopened?.reopened) return reopened;
    await advanceIn(tx, declared, id, now);
    return reopened;
  });
  if (outcome?.reopened) {
    core.workflows.enqueued();
    core.signals.wake();
  }
  return outcome;
}
