// The worker's route for child runs: the worker running a run's current attempt enqueues a run of another task as
// its child, once per key, and none once the run is cancelled (its children are cancelled with it).
import { Hono } from 'hono';
import { childRunKey, SpawnChildRequest } from '../../protocol/child-runs.ts';
import { PushworkerError } from '../../protocol/errors.ts';
import type { EngineCore } from '../core.ts';
import { enqueueRuns } from '../enqueue.ts';
import { spawnConflict } from '../store/child-runs.ts';
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
    // Checked again in the spawn's transaction, under the parent's lock (see Intake.enqueueChildren).
    const conflict = spawnConflict(parent, request.attempt);
    if (conflict) throw new PushworkerError('conflict', conflict);
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
      // Refused when the attempt is no longer under way by the time the child goes in (a cancel meanwhile).
      { parent: { runId: parent.id, attempt: request.attempt } },
    );
    const { run, created } = result!;
    return c.json({ runId: run.id, created }, created ? 201 : 200);
  });

  return app;
}
