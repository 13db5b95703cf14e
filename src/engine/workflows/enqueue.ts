// Enqueueing a workflow run: the DAG read from the workers' declarations, the run and its first tasks in one commit.

import { PushworkerError } from '../../protocol/errors.ts';
import type { WorkflowEnqueueRequest } from '../../protocol/workflows.ts';
import { SpanAttributes } from '../../tracing/tracing.ts';
import type { EngineCore } from '../core.ts';
import { uuidv7 } from '../ids.ts';
import { insertWorkflowRun, type WorkflowRunRecord } from '../store/workflow-runs.ts';
import { withinSpan } from '../tracing.ts';
import { advanceIn } from './advance.ts';

/**
 * Enqueues a workflow run. Traced, its enqueue span (a child of the caller's span) is the parent of every task
 * run of the DAG, those the advancer starts later included: the run keeps the span's traceparent.
 */
export async function enqueueWorkflow(
  core: EngineCore,
  request: WorkflowEnqueueRequest,
  createdBy: string | null,
  callerTraceparent?: string,
): Promise<{ run: WorkflowRunRecord; created: boolean }> {
  const span = core.tracing?.workflowEnqueue(request.workflow, callerTraceparent);
  return withinSpan(span, callerTraceparent, async (traceparent) => {
    const enqueued = await enqueueUntraced(core, request, createdBy, traceparent);
    span?.set({ [SpanAttributes.workflowRunId]: enqueued.run.id });
    return enqueued;
  });
}

async function enqueueUntraced(
  core: EngineCore,
  request: WorkflowEnqueueRequest,
  createdBy: string | null,
  traceparent: string | undefined,
): Promise<{ run: WorkflowRunRecord; created: boolean }> {
  const definition = await core.workflowDefinitions.of(request.workflow);
  if (!definition) {
    throw new PushworkerError(
      'not_found',
      `no worker declares workflow "${request.workflow}": register a worker that serves it first`,
    );
  }
  const now = Date.now();
  const result = await core.sql.transaction(async (tx) => {
    const inserted = await insertWorkflowRun(
      tx,
      {
        id: `wfr_${uuidv7()}`,
        definition,
        input: request.input,
        metadata: request.metadata,
        idempotencyKey: request.idempotencyKey,
        createdBy,
        traceparent,
      },
      now,
    );
    const outcome = inserted.created
      ? await advanceIn(tx, core.declarations.within(tx), inserted.run, now)
      : undefined;
    return { ...inserted, outcome };
  });
  if (result.created) core.workflows.enqueued();
  if (result.outcome?.started) core.signals.wake();
  if (result.outcome?.ended.length) core.signals.done(result.outcome.ended);
  return { run: result.run, created: result.created };
}
