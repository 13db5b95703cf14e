// Schedule routes: create, list with next ticks, read, pause, resume and delete cron schedules.
import { Hono } from 'hono';
import { PushworkerError } from '../../protocol/errors.ts';
import type { ScheduleView } from '../../protocol/schedules.ts';
import { CreateScheduleRequest } from '../../protocol/schedules.ts';
import type { EngineCore } from '../core.ts';
import { firstTick } from '../schedules.ts';
import {
  deleteSchedule,
  getSchedule,
  insertSchedule,
  listSchedules,
  type ScheduleRecord,
  setSchedulePaused,
} from '../store/schedules.ts';
import { notFound, parseBody, requireApi } from './http.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function scheduleView(s: ScheduleRecord): ScheduleView {
  return {
    name: s.name,
    task: s.task,
    input: s.input,
    metadata: s.metadata,
    cron: s.cron,
    timezone: s.timezone,
    missed: s.missed,
    backfillLimit: s.backfillLimit,
    paused: s.paused,
    source: s.source,
    lastTickAt: iso(s.lastTickAt),
    nextTickAt: s.paused ? null : iso(s.nextTickAt),
    createdAt: iso(s.createdAt)!,
  };
}

export function scheduleRoutes(core: EngineCore): Hono {
  const app = new Hono();

  app.post('/v1/schedules', async (c) => {
    await requireApi(core, c);
    const request = await parseBody(c, CreateScheduleRequest);
    const now = Date.now();
    const stored = await insertSchedule(
      core.sql,
      {
        ...request,
        input: request.input ?? null,
        metadata: request.metadata ?? null,
        source: 'api',
        nextTickAt: request.paused ? null : firstTick(request.cron, request.timezone, now),
      },
      now,
    );
    if (stored === 'duplicate') {
      throw new PushworkerError('conflict', `a schedule named "${request.name}" exists already`);
    }
    core.schedulesChanged();
    return c.json(scheduleView(stored), 201);
  });

  app.get('/v1/schedules', async (c) => {
    await requireApi(core, c);
    return c.json({ schedules: (await listSchedules(core.sql)).map(scheduleView) });
  });

  app.get('/v1/schedules/:name', async (c) => {
    await requireApi(core, c);
    const schedule = await getSchedule(core.sql, c.req.param('name'));
    if (!schedule) throw notFound('the schedule');
    return c.json(scheduleView(schedule));
  });

  for (const [action, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    app.post(`/v1/schedules/:name/${action}`, async (c) => {
      await requireApi(core, c);
      // Resuming counts from now: the ticks that passed while paused are skipped, whatever the missed-ticks policy.
      const schedule = await setSchedulePaused(core.sql, c.req.param('name'), paused, (s) =>
        firstTick(s.cron, s.timezone, Date.now()),
      );
      if (!schedule) throw notFound('the schedule');
      if (!paused) core.schedulesChanged();
      return c.json(scheduleView(schedule));
    });
  }

  app.delete('/v1/schedules/:name', async (c) => {
    await requireApi(core, c);
    const name = c.req.param('name');
    const outcome = await deleteSchedule(core.sql, name);
    if (outcome === 'unknown') throw notFound('the schedule');
    if (outcome === 'code') {
      throw new PushworkerError(
        'conflict',
        'the schedule is declared in code: it goes when no worker declares it any more; pause it meanwhile',
      );
    }
    return c.json({ name, deleted: true });
  });

  return app;
}
