// Enqueueing a workflow run: the DAG read from the workers' declarations, the run and its first tasks in one commit.

import { PushworkerError } from '../../protocol/errors.ts';
import type { WorkflowEnqueueRequest } from '../../protocol/workflows.ts';
import type { EngineCore } from '../core.ts';
import { findWorkflow, insertWorkflowRun, type WorkflowRunRecord } from '../store/workflow-runs.ts';
import { advanceIn, declaredFor } from './advance.ts';

export async function enqueueWorkflow(
  core: EngineCore,
  request: WorkflowEnqueueRequest,
  createdBy: string | null,
): Promise<{ run: WorkflowRunRecord; created: boolean }> {
  const definition = await findWorkflow(core.sql, request.workflow);
  if (!definition) {
    throw new PushworkerError(
      'not_found',
      `no worker declares workflow "${request.workflow}": register a worker that serves it first`,
    );
  }
  const now = Date.now();
  const declared = await declaredFor(core.declarations, definition, now);
  const result = await core.sql.transaction(async (tx) => {
    const inserted = await insertWorkflowRun(
      tx,
      {
        id: `wfr_${crypto.randomUUID()}`,
        definition,
        input: request.input,
        metadata: request.metadata,
        idempotencyKey: request.idempotencyKey,
        createdBy,
      },
      now,
    );
    const outcome = inserted.created ? await advanceIn(tx, declared, inserted.run.id, now) : undefined;
    return { ...inserted, outcome };
  });
  if (result.created) core.workflows.enqueued();
  if (result.outcome?.started) core.signals.wake();
  if (result.outcome?.ended.length) core.signals.done(result.outcome.ended);
  return { run: result.run, created: result.created };
}
