// The engine's Hono app: client and worker routes, tokens and keys, health, metrics and the JWKS.
import { Hono } from 'hono';
import { readBodies } from '../../http/body.ts';
import { nodeBodyReader } from '../../node/body.ts';
import { CreateTokenRequest } from '../../protocol/api.ts';
import { PushworkerError } from '../../protocol/errors.ts';
import type { EngineCore } from '../core.ts';
import { dashboardRoutes } from '../dashboard/routes.ts';
import { visibleState } from '../store/records.ts';
import { countLiveRunsByState, taskStats } from '../store/runs.ts';
import { listWorkers } from '../store/workers.ts';
import { childRunRoutes } from './child-runs.ts';
import { checkStorableUrl, notFound, parseBody, renderError, requireApi } from './http.ts';
import { eventRoutes } from './published-events.ts';
import { rateLimitRoutes } from './rate-limits.ts';
import { runRetryRoutes } from './run-retries.ts';
import { runSeriesRoutes } from './run-series.ts';
import { runRoutes } from './runs.ts';
import { scheduleRoutes } from './schedules.ts';
import { workerRoutes } from './workers.ts';
import { workflowRunRoutes } from './workflow-runs.ts';

export function createApi(core: EngineCore, onError: (error: unknown) => void): Hono {
  const app = new Hono();
  app.onError((error, c) => renderError(error, c, onError));
  app.notFound((c) => renderError(new PushworkerError('not_found', 'no such route'), c, onError));
  app.use(async (c, next) => {
    checkStorableUrl(c);
    await next();
  });
  app.use(readBodies(core.config.maxBodyBytes, () => nodeBodyReader));

  app.get('/health', async (c) => {
    await core.sql.query('SELECT 1');
    return c.json({ status: 'ok', store: core.sql.kind });
  });

  app.get('/.well-known/jwks.json', async (c) => {
    await core.keys.refresh(1_000);
    c.header('cache-control', 'public, max-age=60');
    return c.json(core.keys.jwks());
  });

  app.get('/metrics', async (c) => {
    const [stats, workers, states] = await Promise.all([
      taskStats(core.sql, Date.now()),
      listWorkers(core.sql),
      countLiveRunsByState(core.sql),
    ]);
    const byState = new Map<string, number>();
    for (const w of workers) byState.set(visibleState(w), (byState.get(visibleState(w)) ?? 0) + 1);
    const text = core.metrics.render([
      {
        name: 'pushworker_queue_depth',
        help: 'Queued runs per task.',
        series: stats.map((s) => [{ task: s.task }, s.queued]),
      },
      {
        name: 'pushworker_queue_ready',
        help: 'Queued runs per task that could start now (what an autoscaler reads).',
        series: stats.map((s) => [{ task: s.task }, s.ready]),
      },
      {
        name: 'pushworker_queue_scheduled',
        help: 'Queued runs per task not due yet (delayed, or in a retry back-off).',
        series: stats.map((s) => [{ task: s.task }, s.scheduled]),
      },
      {
        name: 'pushworker_running',
        help: 'Assigned or running runs per task.',
        series: stats.map((s) => [{ task: s.task }, s.assigned + s.running]),
      },
      {
        name: 'pushworker_runs',
        help: 'Queued, assigned and running runs per state; finished runs are not counted.',
        series: Object.entries(states).map(([state, n]) => [{ state }, n]),
      },
      {
        name: 'pushworker_workers',
        help: 'Workers per state.',
        series: [...byState].map(([state, n]) => [{ state }, n]),
      },
      {
        name: 'pushworker_worker_slots_used',
        help: 'Slot-units held per worker.',
        series: workers.map((w) => [{ worker: w.name, id: w.id }, w.used]),
      },
    ]);
    return c.text(text, 200, { 'content-type': 'text/plain; version=0.0.4' });
  });

  app.post('/v1/tokens', async (c) => {
    await requireApi(core, c);
    const request = await parseBody(c, CreateTokenRequest);
    return c.json(await core.tokens.create(request.kind, request.worker, request.scope), 201);
  });

  app.get('/v1/whoami', async (c) => {
    const principal = await requireApi(core, c);
    return c.json({ kind: 'api', scope: principal.scope, id: principal.tokenId });
  });

  app.delete('/v1/tokens/:id', async (c) => {
    await requireApi(core, c);
    const id = c.req.param('id');
    if (!(await core.tokens.revoke(id))) throw notFound('the token');
    core.signals.tokenRevoked(id);
    return c.json({ id, revoked: true });
  });

  app.post('/v1/keys/rotate', async (c) => {
    await requireApi(core, c);
    const kid = await core.keys.rotate();
    return c.json({ kid, jwks: core.keys.jwks() });
  });

  app.route('/dashboard', dashboardRoutes());
  app.route('/', runRetryRoutes(core));
  app.route('/', childRunRoutes(core));
  app.route('/', runRoutes(core));
  app.route('/', runSeriesRoutes(core));
  app.route('/', workerRoutes(core));
  app.route('/', rateLimitRoutes(core));
  app.route('/', scheduleRoutes(core));
  app.route('/', eventRoutes(core));
  app.route('/', workflowRunRoutes(core));
  return app;
}
