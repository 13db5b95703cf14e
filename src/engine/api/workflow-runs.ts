// Client routes for workflows: the declared DAGs, and workflow runs (enqueue, list, read, long-poll wait, cancel).
import { Hono } from 'hono';
import { PushworkerError } from '../../protocol/errors.ts';
import { ListWorkflowRunsQuery, WorkflowEnqueueRequest } from '../../protocol/workflows.ts';
import type { EngineCore } from '../core.ts';
import { getWorkflowRun, listWorkflowRuns, listWorkflows, workflowTaskRuns } from '../store/workflow-runs.ts';
import { cancelWorkflowRun } from '../workflows/cancel.ts';
import { enqueueWorkflow } from '../workflows/enqueue.ts';
import { retryWorkflowRun } from '../workflows/retry.ts';
import { checkOwn, notFound, parseBody, parseQuery, requireApi, traceparentHeader } from './http.ts';
import { longPoll } from './long-poll.ts';
import { workflowRunSummary, workflowRunView } from './workflow-views.ts';

export function workflowRunRoutes(core: EngineCore): Hono {
  const app = new Hono();
  const viewOf = async (id: string) => {
    const run = await getWorkflowRun(core.sql, id);
    if (!run) throw notFound('the workflow run');
    return workflowRunView(run, await workflowTaskRuns(core.sql, id));
  };

  app.get('/v1/workflows', async (c) => {
    await requireApi(core, c);
    return c.json({ workflows: await listWorkflows(core.sql) });
  });

  app.post('/v1/workflow-runs', async (c) => {
    const principal = await requireApi(core, c);
    const request = await parseBody(c, WorkflowEnqueueRequest);
    const { run, created } = await enqueueWorkflow(core, request, principal.tokenId, traceparentHeader(c));
    return c.json({ ...(await viewOf(run.id)), created }, created ? 201 : 200);
  });

  app.get('/v1/workflow-runs', async (c) => {
    await requireApi(core, c);
    const query = parseQuery(c, ListWorkflowRunsQuery);
    const runs = await listWorkflowRuns(core.sql, {
      workflow: query.workflow,
      states: query.state,
      limit: query.limit,
      beforeSeq: query.cursor === undefined ? undefined : Number(query.cursor),
    });
    const last = runs.length === query.limit ? runs[runs.length - 1] : undefined;
    return c.json({ workflowRuns: runs.map(workflowRunSummary), nextCursor: last ? String(last.seq) : null });
  });

  app.get('/v1/workflow-runs/:id', async (c) => {
    await requireApi(core, c);
    return c.json(await viewOf(c.req.param('id')));
  });

  app.get('/v1/workflow-runs/:id/wait', async (c) => {
    await requireApi(core, c);
    const id = c.req.param('id');
    await longPoll(core, c, {
      id,
      what: 'the workflow run',
      read: () => getWorkflowRun(core.sql, id),
      ended: (r) => r.state !== 'RUNNING',
    });
    return c.json(await viewOf(id));
  });

  app.post('/v1/workflow-runs/:id/cancel', async (c) => {
    const principal = await requireApi(core, c);
    const id = c.req.param('id');
    await checkOwn(principal, 'workflow run', async () => (await getWorkflowRun(core.sql, id))?.createdBy);
    const run = await cancelWorkflowRun(core, id);
    if (!run) throw notFound('the workflow run');
    return c.json(await viewOf(run.id));
  });

  app.post('/v1/workflow-runs/:id/retry', async (c) => {
    const principal = await requireApi(core, c);
    const id = c.req.param('id');
    await checkOwn(principal, 'workflow run', async () => (await getWorkflowRun(core.sql, id))?.createdBy);
    const outcome = await retryWorkflowRun(core, id, traceparentHeader(c));
    if (!outcome) throw notFound('the workflow run');
    if (!outcome.reopened)
      throw new PushworkerError('conflict', 'the workflow run is RUNNING: only an ended one is retried');
    return c.json(await viewOf(id));
  });

  return app;
}
