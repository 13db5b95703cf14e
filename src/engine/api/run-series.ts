// The console's charts: `GET /v1/stats/series`, the recent window of finished runs, dispatch latency and queue depth.
import { Hono } from 'hono';
import { RunSeriesQuery, type RunSeriesResponse } from '../../protocol/api.ts';
import type { EngineCore } from '../core.ts';
import { runSeries } from '../store/run-series.ts';
import { parseQuery, requireApi } from './http.ts';
import { iso } from './views.ts';

export function runSeriesRoutes(core: EngineCore): Hono {
  const app = new Hono();
  app.get('/v1/stats/series', async (c) => {
    await requireApi(core, c);
    const { minutes } = parseQuery(c, RunSeriesQuery);
    const s = await runSeries(core.sql, { now: Date.now(), minutes });
    const answer: RunSeriesResponse = {
      from: iso(s.from)!,
      to: iso(s.to)!,
      bucketMs: s.bucketMs,
      completed: s.completed,
      failed: s.failed,
      dispatchLatencyMs: { p50: s.p50, p99: s.p99 },
      queueDepth: s.queueDepth,
    };
    return c.json(answer);
  });
  return app;
}
