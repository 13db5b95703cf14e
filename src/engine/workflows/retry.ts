// Retrying a workflow run: its failed and cancelled tasks run again, and the tasks below them when they complete.
import type { EngineCore } from '../core.ts';
import { getWorkflowRun, reopenWorkflowRun, type WorkflowRunRecord } from '../store/workflow-runs.ts';
import { withinSpan } from '../tracing.ts';
import { advanceIn } from './advance.ts';

/** Undefined when there is no such workflow run; `reopened` false for one still running (nothing changes). */
export async function retryWorkflowRun(
  core: EngineCore,
  id: string,
  callerTraceparent?: string,
): Promise<{ run: WorkflowRunRecord; reopened: boolean } | undefined> {
  const known = await getWorkflowRun(core.sql, id);
  if (!known) return undefined;
  // Traced, the retry's span (linked to the workflow run's earlier trace) is the new parent of its task runs.
  const span = known.state === 'RUNNING' ? undefined : core.tracing?.workflowRetry(known, callerTraceparent);
  return withinSpan(span, undefined, (traceparent) => reopen(core, known, traceparent));
}

async function reopen(
  core: EngineCore,
  known: WorkflowRunRecord,
  traceparent: string | undefined,
): Promise<{ run: WorkflowRunRecord; reopened: boolean } | undefined> {
  const id = known.id;
  const now = Date.now();
  const outcome = await core.sql.transaction(async (tx) => {
    const reopened = await reopenWorkflowRun(tx, id, now, traceparent);
    if (!reopened?.reopened) return reopened;
    await advanceIn(tx, core.declarations.within(tx), id, now);
    return reopened;
  });
  if (outcome?.reopened) {
    core.workflows.enqueued();
    core.signals.wake();
  }
  return outcome;
}
