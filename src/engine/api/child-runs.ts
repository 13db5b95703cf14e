// The worker's route for child runs: the worker running a run's current attempt enqueues a run of another task as
// its child, once per key.
import { Hono } from 'hono';
import { childRunKey, SpawnChildRequest } from '../../protocol/child-runs.ts';
import { PushworkerError } from '../../protocol/errors.ts';
import type { EngineCore } from '../core.ts';
import { enqueueRuns } from '../enqueue.ts';
import { getRun } from '../store/runs.ts';
import { getWorker } from '../store/workers.ts';
import { notFound, parseBody, requireWorker } from './http.ts';

export function childRunRoutes(core: EngineCore): Hono {
  const app = new Hono();

  app.post('/v1/runs/:id/children', async (c) => {
    const principal = await requireWorker(core, c);
    const request = await parseBody(c, SpawnChildRequest);
    const parent = await getRun(core.sql, c.req.param('id'));
    if (!parent) throw notFound('the run');
    const current =
      parent.attempt === request.attempt && (parent.state === 'ASSIGNED' || parent.state === 'RUNNING');
    if (!current)
      throw new PushworkerError('conflict', `attempt ${request.attempt} of the run is not running`);
    const worker = parent.workerId ? await getWorker(core.sql, parent.workerId) : undefined;
    if (worker?.name !== principal.workerName)
      throw new PushworkerError('forbidden', `the run is not assigned to worker "${principal.workerName}"`);
    const [result] = await enqueueRuns(
      core,
      [
        {
          task: request.task,
          input: request.input,
          idempotencyKey: childRunKey(parent.id, request.key),
          metadata: { ...request.metadata, 'pushworker.parentRunId': parent.id },
          // A traced parent's child joins its trace, under the parent's enqueue.
          ...(parent.traceparent ? { traceparent: parent.traceparent } : {}),
        },
      ],
      parent.createdBy,
      { parentRunId: parent.id },
    );
    const { run, created } = result!;
    return c.json({ runId: run.id, created }, created ? 201 : 200);
  });

  return app;
}
