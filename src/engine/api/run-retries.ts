// Routes that queue finished runs again: one by id, or those a filter selects.
import { Hono } from 'hono';
import { RetryRunsRequest } from '../../protocol/api.ts';
import { PushworkerError } from '../../protocol/errors.ts';
import type { EngineCore } from '../core.ts';
import { retryMany, retryOne } from '../retry-runs.ts';
import { checkOwnRun, notFound, parseBody, requireApi, traceparentHeader } from './http.ts';
import { runView } from './views.ts';

export function runRetryRoutes(core: EngineCore): Hono {
  const app = new Hono();
  app.post('/v1/runs/retry', async (c) => {
    await requireApi(core, c);
    const request = await parseBody(c, RetryRunsRequest);
    const runs = await retryMany(
      core,
      { states: request.state ?? ['FAILED'], dead: request.dead, task: request.task, limit: request.limit },
      traceparentHeader(c),
    );
    if (runs.length > 0) core.signals.wake();
    return c.json({ runs: runs.map((r) => runView(r)) });
  });

  app.post('/v1/runs/:id/retry', async (c) => {
    const principal = await requireApi(core, c);
    await checkOwnRun(core, principal, c.req.param('id'));
    const outcome = await retryOne(core, c.req.param('id'), traceparentHeader(c));
    if (!outcome) throw notFound('the run');
    if ('inWorkflow' in outcome) {
      const id = outcome.inWorkflow.workflowRunId;
      throw new PushworkerError(
        'conflict',
        `the run is a task of workflow run ${id}: retry the workflow run (POST /v1/workflow-runs/${id}/retry)`,
      );
    }
    if ('notFinished' in outcome) {
      throw new PushworkerError(
        'conflict',
        `the run is ${outcome.notFinished.state}: only a finished run is retried`,
      );
    }
    core.signals.wake();
    return c.json(runView(outcome.run));
  });
  return app;
}
