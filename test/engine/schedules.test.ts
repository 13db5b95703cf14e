// Cron schedules on both stores: validation and its codes, firing at a tick, pause, delete, missed ticks after
// downtime, a restart that fires nothing twice, and code schedules declared by a real worker's tasks.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEngine } from '../../src/engine/index.ts';
import { tickKey } from '../../src/engine/schedule-firer.ts';
import { firstTick } from '../../src/engine/schedules.ts';
import { codeScheduleName, insertSchedule } from '../../src/engine/store/schedules.ts';
import { task } from '../../src/index.ts';
import type { CreateScheduleRequest } from '../../src/protocol/schedules.ts';
import { engineMetric, fast, type Harness, harnessPerTest, until } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

/** Monthly, at midnight UTC on the 1st: no tick falls within a test run, so only the ticks a test fires fire. */
const MONTHLY = '0 0 1 * *';
const DAY_MS = 24 * 3600_000;
/** Yearly, on a day no MONTHLY tick falls on. */
const YEARLY = '0 12 2 7 *';

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; paths: unknown[] }> {
  try {
    await promise;
    return { code: 'ok', paths: [] };
  } catch (error) {
    const { code, details } = error as { code: string; details?: { path: unknown[] }[] };
    return { code, paths: (details ?? []).map((d) => d.path.join('.')) };
  }
}

/** The month starts after `from` (ms), as ticks of MONTHLY: the first, second... */
function monthStarts(from: number, n: number): number[] {
  const d = new Date(from);
  return Array.from({ length: n }, (_, i) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1 + i, 1));
}

describe.each(storeTargets('pw_schedules'))('cron schedules on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;
  const create = (over: Partial<CreateScheduleRequest> = {}) =>
    h.client.createSchedule({ name: 'monthly', task: 'report', cron: MONTHLY, input: { n: 1 }, ...over });
  const runsOf = async (task = 'report') =>
    (await h.client.listRuns({ task, limit: 500 })).runs.sort((a, b) =>
      (a.idempotencyKey ?? '').localeCompare(b.idempotencyKey ?? ''),
    );

  it('refuses bad expressions, time zones, names and policies with invalid_request, naming the field', async () => {
    h = await harness.start();
    const cases: [Partial<CreateScheduleRequest>, string][] = [
      [{ cron: '60 * * * *' }, 'cron'],
      [{ cron: '* * *' }, 'cron'],
      [{ cron: '0 0 0 1 1 * 2030' }, 'cron'],
      [{ cron: '2030-01-01T00:00:00Z' }, 'cron'],
      [{ cron: '0 0 30 2 *' }, 'cron'],
      [{ cron: '@reboot' }, 'cron'],
      [{ timezone: 'Mars/Olympus' }, 'timezone'],
      [{ timezone: '+01:00' }, 'timezone'],
      [{ name: 'has space' }, 'name'],
      [{ name: '' }, 'name'],
      [{ missed: 'all' as 'latest' }, 'missed'],
      [{ missed: 'backfill', backfillLimit: 0 }, 'backfillLimit'],
    ];
    for (const [over, path] of cases) {
      expect(await codeOf(create(over)), JSON.stringify(over)).toEqual({
        code: 'invalid_request',
        paths: [path],
      });
    }
    expect(await h.client.listSchedules()).toEqual([]);
  });

  it('accepts five and six fields, nicknames and IANA time zones', async () => {
    h = await harness.start();
    const hourly = await create({ name: 'hourly', cron: '@hourly' });
    expect(hourly.nextTickAt).toMatch(/:00:00\.000Z$/);
    const seconds = await create({ name: 'seconds', cron: '30 0 9 * * MON-FRI', timezone: 'Europe/Paris' });
    expect(seconds).toMatchObject({
      timezone: 'Europe/Paris',
      missed: 'latest',
      paused: false,
      source: 'api',
    });
    expect(new Date(seconds.nextTickAt!).getUTCSeconds()).toBe(30);
    expect((await h.client.listSchedules()).map((s) => s.name)).toEqual(['hourly', 'seconds']);
  });

  it('refuses a second schedule of one name with conflict, and an unknown name with not_found', async () => {
    h = await harness.start();
    await create();
    expect((await codeOf(create({ task: 'other' }))).code).toBe('conflict');
    expect((await h.client.getSchedule('monthly')).task).toBe('report');
    const attempts = [
      () => h.client.getSchedule('nothing'),
      () => h.client.pauseSchedule('nothing'),
      () => h.client.resumeSchedule('nothing'),
      () => h.client.deleteSchedule('nothing'),
    ];
    for (const attempt of attempts) expect((await codeOf(attempt())).code).toBe('not_found');
  });

  it('enqueues one run at its tick, keyed by the schedule and the tick, and none before or again', async () => {
    h = await harness.start();
    const created = await create({ metadata: { team: 'ops' } });
    const [t1, t2] = monthStarts(Date.parse(created.createdAt), 2);
    expect(created.nextTickAt).toBe(new Date(t1!).toISOString());
    expect(created.lastTickAt).toBeNull();

    expect(await h.engine.fireSchedules(t1! - 1)).toEqual({ schedules: 0, runs: 0 });
    expect(await h.engine.fireSchedules(t1!)).toEqual({ schedules: 1, runs: 1 });
    expect(await h.engine.fireSchedules(t1!)).toEqual({ schedules: 0, runs: 0 });
    expect(await engineMetric(h, 'pushworker_schedule_runs_total')).toBe(1);

    const runs = await runsOf();
    expect(runs.map((r) => [r.idempotencyKey, r.input, r.state])).toEqual([
      [tickKey('monthly', t1!), { n: 1 }, 'QUEUED'],
    ]);
    expect(tickKey('monthly', t1!)).toBe(`schedule:monthly:${new Date(t1!).toISOString()}`);
    const after = await h.client.getSchedule('monthly');
    expect(after.lastTickAt).toBe(new Date(t1!).toISOString());
    expect(after.nextTickAt).toBe(new Date(t2!).toISOString());
    const listed = await h.client.listSchedules();
    expect(listed.map((s) => [s.name, s.nextTickAt])).toEqual([['monthly', after.nextTickAt]]);
  });

  it('fires nothing while paused, and resumes from now, skipping the ticks it was paused for', async () => {
    h = await harness.start();
    const created = await create();
    const [t1] = monthStarts(Date.parse(created.createdAt), 1);
    const paused = await h.client.pauseSchedule('monthly');
    expect(paused).toMatchObject({ paused: true, nextTickAt: null });
    expect(await h.engine.fireSchedules(t1! + 365 * DAY_MS)).toEqual({ schedules: 0, runs: 0 });
    expect(await runsOf()).toEqual([]);

    const resumed = await h.client.resumeSchedule('monthly');
    expect(resumed).toMatchObject({ paused: false, nextTickAt: new Date(t1!).toISOString() });
    expect(await h.engine.fireSchedules(t1!)).toEqual({ schedules: 1, runs: 1 });
    const created2 = await create({ name: 'born-paused', paused: true });
    expect(created2).toMatchObject({ paused: true, nextTickAt: null });
  });

  it('deletes a schedule: it is gone and fires no more', async () => {
    h = await harness.start();
    const created = await create();
    const [t1] = monthStarts(Date.parse(created.createdAt), 1);
    expect(await h.client.deleteSchedule('monthly')).toEqual({ name: 'monthly', deleted: true });
    expect((await codeOf(h.client.getSchedule('monthly'))).code).toBe('not_found');
    expect(await h.client.listSchedules()).toEqual([]);
    expect(await h.engine.fireSchedules(t1!)).toEqual({ schedules: 0, runs: 0 });
    expect(await runsOf()).toEqual([]);
  });

  it('after downtime runs the latest missed tick once by default, or backfills up to the limit', async () => {
    h = await harness.start();
    const latest = await create({ name: 'latest' });
    await create({ name: 'backfill', task: 'report-backfill', missed: 'backfill', backfillLimit: 3 });
    const ticks = monthStarts(Date.parse(latest.createdAt), 7);
    // The engine was down from before the first tick until an hour after the fifth.
    const back = ticks[4]! + 3600_000;
    expect(await h.engine.fireSchedules(back)).toEqual({ schedules: 2, runs: 4 });

    expect((await runsOf()).map((r) => r.idempotencyKey)).toEqual([tickKey('latest', ticks[4]!)]);
    expect((await runsOf('report-backfill')).map((r) => r.idempotencyKey)).toEqual(
      [ticks[2]!, ticks[3]!, ticks[4]!].map((t) => tickKey('backfill', t)),
    );
    for (const name of ['latest', 'backfill']) {
      expect(await h.client.getSchedule(name)).toMatchObject({
        lastTickAt: new Date(ticks[4]!).toISOString(),
        nextTickAt: new Date(ticks[5]!).toISOString(),
      });
    }
    // Back on time: the next tick fires alone.
    expect(await h.engine.fireSchedules(ticks[5]!)).toEqual({ schedules: 2, runs: 2 });
  });

  it('fires nothing twice across a restart, even when a tick is found due again', async () => {
    h = await harness.start();
    const created = await create();
    const [t1] = monthStarts(Date.parse(created.createdAt), 1);
    expect(await h.engine.fireSchedules(t1!)).toEqual({ schedules: 1, runs: 1 });

    // A new engine on the same store, as after a restart, and a schedule that looks due again (its advance lost).
    const restarted = await createEngine({ ...fast, sql: harness.sql });
    try {
      expect(await restarted.fireSchedules(t1!)).toEqual({ schedules: 0, runs: 0 });
      await harness.sql.query('UPDATE pw_schedules SET next_tick_at = $1', [t1]);
      expect(await restarted.fireSchedules(t1! + 60_000)).toEqual({ schedules: 1, runs: 0 });
    } finally {
      await restarted.stop();
    }
    expect((await runsOf()).map((r) => r.idempotencyKey)).toEqual([tickKey('monthly', t1!)]);
  });

  it('fires a schedule created while the loop runs, at its tick, without being driven', async () => {
    h = await harness.start();
    await create({ name: 'every-second', task: 'tick', cron: '* * * * * *' });
    await until(async () => (await runsOf('tick')).length > 0, 'the loop to fire a tick', 15_000);
    const [run] = await runsOf('tick');
    expect(run!.idempotencyKey).toMatch(/^schedule:every-second:\d{4}-.*\.000Z$/);
  });

  it('sees a schedule stored by another engine through its poll, without being told', async () => {
    h = await harness.start({ schedulePollMs: 300 });
    // Stored straight into the store, as another replica's API would: this engine's loop is not woken.
    await insertSchedule(
      harness.sql,
      {
        name: 'elsewhere',
        task: 'tick',
        input: null,
        metadata: null,
        cron: '* * * * * *',
        timezone: 'UTC',
        missed: 'latest',
        backfillLimit: 100,
        paused: false,
        source: 'api',
        nextTickAt: firstTick('* * * * * *', 'UTC', Date.now()),
      },
      Date.now(),
    );
    await until(async () => (await runsOf('tick')).length > 0, 'the polling loop to fire a tick', 15_000);
  });

  it('runs the ticks of a schedule a real worker declares on that worker, with the tick in its metadata', async () => {
    h = await harness.start();
    const pulse = task({
      name: 'pulse',
      input: z.object({ to: z.string() }),
      cron: ['* * * * * *'],
      cronInput: { to: 'ops' },
      run: ({ to }, ctx) => ({ to, tick: ctx.metadata['pushworker.tick'] }),
    });
    await h.addWorker('pulse-worker', { tasks: [pulse] });
    const done = await until(
      async () => (await h.client.listRuns({ task: 'pulse', state: 'COMPLETED' })).runs[0],
      'a tick of the declared schedule to complete',
      20_000,
    );
    const output = done.output as { to: string; tick: string };
    expect(output.to).toBe('ops');
    const name = codeScheduleName('pulse', '* * * * * *', 'UTC');
    expect(done.idempotencyKey).toBe(tickKey(name, Date.parse(output.tick)));
  });

  it('keeps the schedules a real worker declares across registrations, and drops one no worker declares', async () => {
    h = await harness.start();
    const digest = task({
      name: 'digest',
      input: z.object({ to: z.string() }),
      cron: [MONTHLY, YEARLY],
      cronInput: { to: 'ops' },
      cronTimezone: 'UTC',
      run: ({ to }) => ({ to }),
    });
    const w = await h.addWorker('cron-worker', { tasks: [digest] });
    const names = [MONTHLY, YEARLY].map((c) => codeScheduleName('digest', c, 'UTC'));
    const listed = await h.client.listSchedules();
    expect(listed.map((s) => [s.name, s.task, s.cron, s.source, s.input]).sort()).toEqual(
      [
        [names[0], 'digest', MONTHLY, 'code', { to: 'ops' }],
        [names[1], 'digest', YEARLY, 'code', { to: 'ops' }],
      ].sort(),
    );
    expect((await codeOf(h.client.deleteSchedule(names[0]!))).code).toBe('conflict');

    const monthly = listed.find((s) => s.name === names[0])!;
    const tick = Date.parse(monthly.nextTickAt!);
    expect(await h.engine.fireSchedules(tick)).toMatchObject({ runs: 1 });
    const runs = (await h.client.listRuns({ task: 'digest' })).runs;
    expect(runs.map((r) => [r.idempotencyKey, r.input])).toEqual([[tickKey(names[0]!, tick), { to: 'ops' }]]);

    // Registering again keeps the ticks and the paused flag.
    await h.client.pauseSchedule(names[1]!);
    const api = h.asWorker(w.token);
    const manifest = w.worker.manifest();
    expect((await api.register({ ...manifest, url: w.url })).status).toBe(200);
    expect(await h.client.getSchedule(names[0]!)).toMatchObject({ lastTickAt: new Date(tick).toISOString() });
    expect((await h.client.getSchedule(names[1]!)).paused).toBe(true);

    // Another worker still declares the monthly schedule when the first drops it: it stays until both have.
    const other = await h.addWorker('cron-worker-2', { tasks: [digest] });
    const monthlyOnly = { ...manifest.tasks[0]!, cron: [YEARLY] };
    expect((await api.register({ ...manifest, url: w.url, tasks: [monthlyOnly] })).status).toBe(200);
    expect((await h.client.listSchedules()).map((s) => s.name).sort()).toEqual([...names].sort());
    const otherApi = h.asWorker(other.token);
    const otherManifest = other.worker.manifest();
    const yearlyOnly = { ...otherManifest.tasks[0]!, cron: [YEARLY] };
    expect((await otherApi.register({ ...otherManifest, url: other.url, tasks: [yearlyOnly] })).status).toBe(
      200,
    );
    expect((await h.client.listSchedules()).map((s) => s.name)).toEqual([names[1]]);
  });

  it('stores the schedules of a worker registered by URL, and drops them when its worker is removed or expires', async () => {
    h = await harness.start({ workerExpiryMs: 200 });
    const declared = (name: string) =>
      task({ name, input: z.unknown(), cron: [MONTHLY], run: () => undefined });
    const byUrl = await h.addWorker('by-url', { start: false, mode: 'sync', tasks: [declared('pulled')] });
    const view = await h.client.registerWorker(byUrl.url);
    const pulled = codeScheduleName('pulled', MONTHLY, 'UTC');
    expect((await h.client.getSchedule(pulled)).source).toBe('code');

    // Removed by hand once it is STOPPED (as a drained worker is).
    await h.engine.sql.query(`UPDATE pw_workers SET state = 'STOPPED' WHERE id = $1`, [view.id]);
    await h.client.deleteWorker(view.id);
    expect((await codeOf(h.client.getSchedule(pulled))).code).toBe('not_found');

    // Expired: a worker that stopped is removed by the sweeper once silent for the expiry, its schedule with it.
    const stopping = await h.addWorker('stops', { tasks: [declared('stopped-task')] });
    const stopped = codeScheduleName('stopped-task', MONTHLY, 'UTC');
    expect((await h.client.getSchedule(stopped)).task).toBe('stopped-task');
    await stopping.close();
    await until(
      async () => (await codeOf(h.client.getSchedule(stopped))).code === 'not_found',
      'the schedule of the expired worker to go',
      10_000,
    );
    expect(await h.client.listWorkers()).toEqual([]);
  });

  it('stops a stored schedule whose expression no longer parses, and says so once', async () => {
    h = await harness.start();
    const created = await create();
    const [t1] = monthStarts(Date.parse(created.createdAt), 1);
    await harness.sql.query(`UPDATE pw_schedules SET cron = 'not a cron expression'`);
    expect(await h.engine.fireSchedules(t1!)).toEqual({ schedules: 1, runs: 0 });
    expect(await h.engine.fireSchedules(t1! + 365 * DAY_MS)).toEqual({ schedules: 0, runs: 0 });
    expect((await h.client.getSchedule('monthly')).nextTickAt).toBeNull();
    expect(h.logs.filter((l) => l.includes('schedule "monthly" stopped'))).toHaveLength(1);
  });

  it('refuses a registration whose task declares a bad cron expression or time zone', async () => {
    h = await harness.start();
    const { token } = await h.engine.createToken('worker', 'bad-cron');
    const api = h.asWorker(token);
    const base = {
      name: 'bad-cron',
      url: 'http://127.0.0.1:9/',
      slots: 1,
      labels: {},
      tasks: [{ name: 't', inputSchema: {}, timeoutMs: 1000, retries: 0, slotCost: 1 }],
    };
    const cases: [{ cron: string[]; cronTimezone?: string }, string][] = [
      [{ cron: ['not cron'] }, 'tasks.0.cron.0'],
      [{ cron: [MONTHLY], cronTimezone: 'Nowhere/Land' }, 'tasks.0.cronTimezone'],
    ];
    for (const [over, path] of cases) {
      const answer = await api.register({ ...base, tasks: [{ ...base.tasks[0]!, ...over }] });
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('invalid_request');
      expect(answer.body.error.details.map((d: { path: unknown[] }) => d.path.join('.'))).toEqual([path]);
    }
    expect(await h.client.listSchedules()).toEqual([]);
  });
});

describe('declaring a cron schedule on a task', () => {
  const input = z.object({ to: z.string() });
  const run = () => undefined;

  it('refuses a bad expression, time zone, or an input the task would refuse, when the task is defined', () => {
    expect(() => task({ name: 't', input, run, cron: ['61 * * * *'], cronInput: { to: 'x' } })).toThrow();
    expect(() =>
      task({ name: 't', input, run, cron: [MONTHLY], cronInput: { to: 'x' }, cronTimezone: 'X/Y' }),
    ).toThrow();
    expect(() => task({ name: 't', input, run, cron: [MONTHLY] })).toThrow();
    const ok = task({ name: 't', input, run, cron: [MONTHLY], cronInput: { to: 'x' } });
    expect(ok.cron).toEqual([MONTHLY]);
  });
});
