// Client routes for runs: enqueue (single and bulk), read, task log lines, long-poll wait, cancel, and stats per
// task and state.
import { Hono } from 'hono';
import {
  BulkEnqueueRequest,
  EnqueueRequest,
  ListRunsQuery,
  type RunStatsResponse,
  TaskStatsQuery,
  type TaskStatsView,
} from '../../protocol/api.ts';
import { LiveRunState, TERMINAL_RUN_STATES } from '../../protocol/schemas.ts';
import type { EngineCore } from '../core.ts';
import { enqueueRuns } from '../enqueue.ts';
import { cancelRunNow } from '../run-cancel.ts';
import { unservedWarning } from '../served-tasks.ts';
import { listAttempts } from '../store/attempts.ts';
import { listRunLogs } from '../store/run-logs.ts';
import { countLiveRunsByState, getRun, listRuns, taskStats } from '../store/runs.ts';
import { listWorkers } from '../store/workers.ts';
import { checkOwnRun, notFound, parseBody, parseQuery, requireApi } from './http.ts';
import { longPoll } from './long-poll.ts';
import { queuedHolds } from './queued-holds.ts';
import { runDetailView, runLogLineView, runView } from './views.ts';

export function runRoutes(core: EngineCore): Hono {
  const app = new Hono();
  app.post('/v1/runs', async (c) => {
    const principal = await requireApi(core, c);
    const request = await parseBody(c, EnqueueRequest);
    const [result] = await enqueueRuns(core, [request], principal.tokenId);
    const { run, created } = result!;
    const unserved = run.state === 'QUEUED' && (await core.served.unserved([run.task])).length > 0;
    const warnings = unserved ? { warnings: [unservedWarning(run.task)] } : {};
    return c.json({ ...runView(run, { unserved }), created, ...warnings }, created ? 201 : 200);
  });

  app.post('/v1/runs/bulk', async (c) => {
    const principal = await requireApi(core, c);
    const request = await parseBody(c, BulkEnqueueRequest);
    const results = await enqueueRuns(core, request.runs, principal.tokenId, { bulk: true });
    const unserved = new Set(await core.served.unserved(results.map((r) => r.run.task)));
    const viewOf = ({ run, created }: (typeof results)[number]) => {
      const waits = run.state === 'QUEUED' && unserved.has(run.task);
      const warnings = waits ? { warnings: [unservedWarning(run.task)] } : {};
      return { ...runView(run, { unserved: waits }), created, ...warnings };
    };
    return c.json({ runs: results.map(viewOf) }, 201);
  });

  app.get('/v1/runs', async (c) => {
    await requireApi(core, c);
    const query = parseQuery(c, ListRunsQuery);
    const runs = await listRuns(core.sql, {
      states: query.state,
      task: query.task,
      workerId: query.worker,
      dead: query.dead,
      metadata: query.metadata,
      createdAfter: query.createdAfter === undefined ? undefined : Date.parse(query.createdAfter),
      createdBefore: query.createdBefore === undefined ? undefined : Date.parse(query.createdBefore),
      limit: query.limit,
      beforeSeq: query.cursor === undefined ? undefined : Number(query.cursor),
    });
    const last = runs.length === query.limit ? runs[runs.length - 1] : undefined;
    const now = Date.now();
    const holds = await queuedHolds(core, runs, now);
    return c.json({
      runs: runs.map((r) => runView(r, holds.get(r.id), now)),
      nextCursor: last ? String(last.seq) : null,
    });
  });

  app.get('/v1/runs/:id', async (c) => {
    await requireApi(core, c);
    const run = await getRun(core.sql, c.req.param('id'));
    if (!run) throw notFound('the run');
    const holds = await queuedHolds(core, [run], Date.now());
    return c.json(runDetailView(run, await listAttempts(core.sql, run.id), holds.get(run.id)));
  });

  app.get('/v1/runs/:id/logs', async (c) => {
    await requireApi(core, c);
    const id = c.req.param('id');
    const [run, logs] = await Promise.all([getRun(core.sql, id), listRunLogs(core.sql, id)]);
    if (!run) throw notFound('the run');
    return c.json({ logs: logs.map(runLogLineView) });
  });

  app.get('/v1/runs/:id/wait', async (c) => {
    await requireApi(core, c);
    const id = c.req.param('id');
    const run = await longPoll(core, c, {
      id,
      what: 'the run',
      read: () => getRun(core.sql, id),
      ended: (r) => TERMINAL_RUN_STATES.has(r.state),
    });
    return c.json(runView(run));
  });

  app.post('/v1/runs/:id/cancel', async (c) => {
    const principal = await requireApi(core, c);
    await checkOwnRun(core, principal, c.req.param('id'));
    const run = await cancelRunNow(core, c.req.param('id'));
    if (!run) throw notFound('the run');
    return c.json(runView(run));
  });

  app.get('/v1/stats/tasks', async (c) => {
    await requireApi(core, c);
    const { task: only } = parseQuery(c, TaskStatsQuery);
    const [stats, workers] = await Promise.all([taskStats(core.sql, Date.now()), listWorkers(core.sql)]);
    const byTask = new Map<string, TaskStatsView>();
    const viewOf = (task: string) => {
      let view = byTask.get(task);
      if (!view) {
        view = {
          task,
          queued: 0,
          ready: 0,
          scheduled: 0,
          assigned: 0,
          running: 0,
          workers: 0,
          slots: { total: 0, used: 0 },
        };
        byTask.set(task, view);
      }
      return view;
    };
    for (const s of stats) Object.assign(viewOf(s.task), s);
    for (const w of workers) {
      if (w.state !== 'ACTIVE' || w.paused) continue;
      for (const t of w.tasks) {
        const view = viewOf(t.name);
        view.workers++;
        view.slots.total += w.slots;
        view.slots.used += w.used;
      }
    }
    for (const task of only ?? []) viewOf(task);
    const listed = only ? new Set(only) : undefined;
    const tasks = [...byTask.values()]
      .filter((v) => !listed || listed.has(v.task))
      .sort((a, b) => a.task.localeCompare(b.task));
    const total = { queued: 0, ready: 0, scheduled: 0, assigned: 0, running: 0 };
    for (const v of tasks)
      for (const field of Object.keys(total) as (keyof typeof total)[]) total[field] += v[field] ?? 0;
    return c.json({ tasks, total });
  });

  app.get('/v1/stats/runs', async (c) => {
    await requireApi(core, c);
    const counted = await countLiveRunsByState(core.sql);
    const states = Object.fromEntries(LiveRunState.options.map((s) => [s, counted[s] ?? 0]));
    return c.json({ states } as RunStatsResponse);
  });

  return app;
}
