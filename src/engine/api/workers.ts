// Worker routes: registration with its code schedules, heartbeats, events (worker tokens); listing, pause, removal (API).
import { Hono } from 'hono';
import { RegisterUrlRequest } from '../../protocol/api.ts';
import { PushworkerError } from '../../protocol/errors.ts';
import { EventsBody, Registration, WorkerHeartbeat } from '../../protocol/schemas.ts';
import type { EngineCore } from '../core.ts';
import { syncCodeSchedules } from '../schedules.ts';
import { removeUndeclaredCodeSchedules } from '../store/schedules.ts';
import {
  deleteWorker,
  getWorker,
  listWorkers,
  recordHeartbeat,
  setPaused,
  upsertWorker,
} from '../store/workers.ts';
import { notFound, parseBody, requireApi, requireWorker } from './http.ts';
import { workerView } from './views.ts';

export function workerRoutes(core: EngineCore): Hono {
  const app = new Hono();

  app.put('/v1/workers', async (c) => {
    const principal = await requireWorker(core, c);
    const registration = await parseBody(c, Registration);
    if (registration.name !== principal.workerName) {
      throw new PushworkerError('forbidden', `this token is for worker "${principal.workerName}"`);
    }
    if (!registration.url)
      throw new PushworkerError('invalid_request', 'a registering worker must give its url');
    await core.checkTarget(registration.url);
    const now = Date.now();
    const worker = await upsertWorker(
      core.sql,
      { ...registration, url: registration.url },
      'registered',
      now,
    );
    await syncCodeSchedules(core.sql, registration.tasks, now);
    core.schedulesChanged();
    core.signals.workersChanged();
    return c.json({ workerId: worker.id });
  });

  app.post('/v1/workers/:id/heartbeat', async (c) => {
    const principal = await requireWorker(core, c);
    const beat = await parseBody(c, WorkerHeartbeat);
    const id = c.req.param('id');
    const known = await getWorker(core.sql, id);
    if (!known) throw notFound('the worker');
    if (known.name !== principal.workerName)
      throw new PushworkerError('forbidden', 'this worker belongs to another token');
    await recordHeartbeat(core.sql, id, beat, Date.now());
    if (known.state !== beat.state) core.signals.workersChanged();
    return c.json({ ok: true });
  });

  app.post('/v1/events', async (c) => {
    const principal = await requireWorker(core, c);
    const body = await parseBody(c, EventsBody);
    return c.json({ results: await core.intake.postEvents(principal.workerName!, body.events) });
  });

  app.get('/v1/workers', async (c) => {
    await requireApi(core, c);
    return c.json({ workers: (await listWorkers(core.sql)).map(workerView) });
  });

  app.post('/v1/workers/register', async (c) => {
    await requireApi(core, c);
    const request = await parseBody(c, RegisterUrlRequest);
    const worker = await core.registerUrl(request.url, request.name);
    core.signals.workersChanged();
    return c.json(workerView(worker), 201);
  });

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post(`/v1/workers/:id/${action}`, async (c) => {
      await requireApi(core, c);
      if (!(await setPaused(core.sql, c.req.param('id'), paused))) throw notFound('the worker');
      core.signals.workersChanged();
      return c.json(workerView((await getWorker(core.sql, c.req.param('id')))!));
    });
  }

  app.delete('/v1/workers/:id', async (c) => {
    await requireApi(core, c);
    const id = c.req.param('id');
    const outcome = await deleteWorker(core.sql, id);
    if (outcome === 'unknown') throw notFound('the worker');
    if (outcome === 'in_use') {
      throw new PushworkerError(
        'conflict',
        'the worker is ACTIVE or holds runs: only an INACTIVE or STOPPED worker that holds no run is removed',
      );
    }
    await removeUndeclaredCodeSchedules(core.sql);
    core.signals.workersChanged();
    return c.json({ id, deleted: true });
  });

  return app;
}
