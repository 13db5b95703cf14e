// Delayed runs, queue deadlines and dead runs, through the API on both stores, and the claims that honour them.
import { describe, expect, it } from 'vitest';
import { claimRuns } from '../../src/engine/store/claims.ts';
import { expireQueuedRuns } from '../../src/engine/store/expiry.ts';
import type { Sql } from '../../src/engine/store/index.ts';
import { getRun, insertRuns, taskStats } from '../../src/engine/store/runs.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';
import { MAX_DELAY_MS } from '../../src/protocol/api.ts';
import { type Harness, harnessPerTest, job, until } from '../support/engine.ts';
import { storePerTest, storeTargets } from './support/postgres.ts';

const targets = storeTargets('pw_delays_suite');
let h: Harness;

/** The error code of a call that must fail. */
async function codeOf(call: Promise<unknown>): Promise<string> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call was to fail').toBeDefined();
  return (error as { code: string }).code;
}

describe.each(targets)('delayed runs and queue deadlines on $name', ({ open }) => {
  const harness = harnessPerTest(open);

  it('refuses delays and deadlines it cannot honour, each with its code', async () => {
    h = await harness.start();
    const c = h.client;
    const soon = new Date(Date.now() + 60_000).toISOString();
    expect(await codeOf(c.enqueue({ task: 'echo', runAt: soon, delayMs: 10 }))).toBe('invalid_request');
    expect(await codeOf(c.enqueue({ task: 'echo', expiresAt: soon, scheduleTimeoutMs: 10 }))).toBe(
      'invalid_request',
    );
    expect(await codeOf(c.enqueue({ task: 'echo', runAt: 'tomorrow' }))).toBe('invalid_request');
    expect(await codeOf(c.enqueue({ task: 'echo', runAt: '2026-12-24T18:00:00' }))).toBe('invalid_request');
    expect(await codeOf(c.enqueue({ task: 'echo', delayMs: -1 }))).toBe('invalid_request');
    expect(await codeOf(c.enqueue({ task: 'echo', delayMs: 1.5 }))).toBe('invalid_request');
    expect(await codeOf(c.enqueue({ task: 'echo', scheduleTimeoutMs: 0 }))).toBe('invalid_request');
    expect(await codeOf(c.enqueue({ task: 'echo', delayMs: MAX_DELAY_MS + 1 }))).toBe('too_far_ahead');
    const twoYears = new Date(Date.now() + 2 * MAX_DELAY_MS).toISOString();
    expect(await codeOf(c.enqueue({ task: 'echo', runAt: twoYears }))).toBe('too_far_ahead');
    expect(await codeOf(c.enqueue({ task: 'echo', scheduleTimeoutMs: MAX_DELAY_MS + 1 }))).toBe(
      'too_far_ahead',
    );
    // A deadline at or before the run is due would fail it before it could start.
    expect(await codeOf(c.enqueue({ task: 'echo', delayMs: 120_000, expiresAt: soon }))).toBe(
      'invalid_request',
    );
    const past = new Date(Date.now() - 1_000).toISOString();
    expect(await codeOf(c.enqueue({ task: 'echo', expiresAt: past }))).toBe('invalid_request');
    // In a bulk enqueue, one run refused refuses them all, and the answer says which.
    const bulk = await c
      .enqueueMany([{ task: 'echo' }, { task: 'echo', delayMs: MAX_DELAY_MS + 1 }])
      .catch((e: unknown) => e);
    expect(bulk).toMatchObject({ code: 'too_far_ahead', details: { index: 1 } });
    expect(await codeOf(c.enqueueMany([{ task: 'echo', delayMs: 1, runAt: soon }]))).toBe('invalid_request');
    expect((await c.listRuns()).runs).toEqual([]);
  });

  it('holds a delayed run until it is due, counted as scheduled, and starts it then without a poll', async () => {
    // The poll is far off: only the due-time timer can start the run within the test's time.
    h = await harness.start({ pollIntervalMs: 60_000 });
    await h.addWorker('w');
    const enqueuedAt = Date.now();
    const run = await h.client.enqueue({ task: 'echo', input: 1, delayMs: 800 });
    expect(run.state).toBe('QUEUED');
    expect(run.waitingFor).toMatch(/^not due until /);
    expect(Date.parse(run.dueAt!)).toBeGreaterThanOrEqual(enqueuedAt + 800);
    const [stats] = await h.client.taskStats();
    expect(stats).toMatchObject({ task: 'echo', queued: 1, ready: 0, scheduled: 1 });
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain('pushworker_queue_scheduled{task="echo"} 1');
    expect(metrics).toContain('pushworker_queue_ready{task="echo"} 0');
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done.state).toBe('COMPLETED');
    expect(Date.parse(done.startedAt!)).toBeGreaterThanOrEqual(Date.parse(run.dueAt!));
    expect(Date.now() - enqueuedAt).toBeLessThan(30_000);
  });

  it('takes runAt as the due time, and a runAt in the past as now', async () => {
    h = await harness.start();
    const at = new Date(Date.now() + 3_600_000);
    const later = await h.client.enqueue({ task: 'echo', runAt: at.toISOString() });
    expect(later.dueAt).toBe(at.toISOString());
    const [stats] = await h.client.taskStats();
    expect(stats).toMatchObject({ queued: 1, ready: 0, scheduled: 1 });
    const past = await h.client.enqueue({ task: 'echo', runAt: '2020-01-01T00:00:00+01:00' });
    expect(past.dueAt).toBeUndefined();
    await h.addWorker('w');
    expect((await h.client.waitRun(past.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    expect((await h.client.getRun(later.id)).state).toBe('QUEUED');
  });

  it('says a retry back-off apart from a delay', async () => {
    h = await harness.start({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
    await h.addWorker('w', {
      tasks: [job('flaky', () => Promise.reject(new Error('boom')), { retries: 2 })],
    });
    const run = await h.client.enqueue({ task: 'flaky' });
    const waiting = await until(async () => {
      const r = await h.client.getRun(run.id);
      return r.failures === 1 && r.state === 'QUEUED' && r;
    }, 'the first failure');
    expect(waiting.waitingFor).toMatch(/^a retry back-off until /);
    expect(waiting.dueAt).toBeDefined();
  });

  it('fails a run not started by its deadline as ScheduleTimeout, without an attempt, dead as expired', async () => {
    h = await harness.start();
    const run = await h.client.enqueue({ task: 'echo', scheduleTimeoutMs: 200 });
    expect(Date.parse(run.expiresAt!)).toBeGreaterThan(Date.parse(run.createdAt));
    const failed = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(failed).toMatchObject({ state: 'FAILED', attempt: 0, failures: 0, dead: 'expired' });
    expect(failed.error).toMatchObject({ name: 'ScheduleTimeout', retryable: false });
    expect((await h.client.getRun(run.id)).attempts).toEqual([]);
  });

  it('lets a deadline pass once the run has started, and counts it from the due time', async () => {
    h = await harness.start();
    await h.addWorker('w');
    // It runs well past its deadline: the deadline bounds the wait in the queue, not the run.
    const started = await h.client.enqueue({ task: 'sleep', input: { ms: 2_500 }, scheduleTimeoutMs: 1_500 });
    const done = await h.client.waitRun(started.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.expiresAt).toBeUndefined();
    const delayed = await h.client.enqueue({ task: 'echo', delayMs: 60_000, scheduleTimeoutMs: 1_000 });
    expect(Date.parse(delayed.expiresAt!) - Date.parse(delayed.dueAt!)).toBe(1_000);
  });

  it('lists dead runs by reason, and replays them by filter without their deadline', async () => {
    h = await harness.start();
    const expired = await h.client.enqueue({ task: 'echo', input: 'late', expiresAt: soonIso(150) });
    await until(async () => (await h.client.getRun(expired.id)).state === 'FAILED', 'the run to expire');
    await h.addWorker('w');
    const exhausted = await h.client.enqueue({ task: 'fail', input: {}, retries: 0 });
    expect((await h.client.waitRun(exhausted.id, { timeoutMs: 10_000 })).dead).toBe('exhausted');
    const ids = async (dead: ('expired' | 'exhausted')[]) =>
      (await h.client.listRuns({ dead })).runs.map((r) => r.id);
    expect(await ids(['expired'])).toEqual([expired.id]);
    expect(await ids(['exhausted'])).toEqual([exhausted.id]);
    expect((await ids(['expired', 'exhausted'])).sort()).toEqual([expired.id, exhausted.id].sort());
    expect(await codeOf(h.client.listRuns({ dead: 'gone' as 'expired' }))).toBe('invalid_request');

    const replayed = await h.client.retryRuns({ dead: ['expired'] });
    expect(replayed.runs.map((r) => r.id)).toEqual([expired.id]);
    expect(replayed.runs[0]).toMatchObject({ state: 'QUEUED' });
    expect(replayed.runs[0]?.expiresAt).toBeUndefined();
    // Its deadline is long past, and it runs all the same.
    expect((await h.client.waitRun(expired.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    expect((await h.client.getRun(exhausted.id)).state).toBe('FAILED');
    expect(await codeOf(h.client.retryRuns({ task: 'fail' }))).toBe('invalid_request');
    const again = await h.client.retryRuns({ dead: ['exhausted'], task: 'fail' });
    expect(again.runs.map((r) => r.id)).toEqual([exhausted.id]);
  });

  it('replays one expired run by id, which then waits for a worker instead of expiring again', async () => {
    h = await harness.start();
    const run = await h.client.enqueue({ task: 'echo', scheduleTimeoutMs: 100 });
    await until(async () => (await h.client.getRun(run.id)).state === 'FAILED', 'the run to expire');
    const replayed = await h.client.retryRun(run.id);
    expect(replayed.state).toBe('QUEUED');
    expect(replayed.expiresAt).toBeUndefined();
    // A sweep after the old deadline leaves it queued.
    await h.engine.sweep();
    expect((await h.client.getRun(run.id)).state).toBe('QUEUED');
    await h.addWorker('w');
    expect((await h.client.waitRun(run.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
  });
});

const soonIso = (ms: number) => new Date(Date.now() + ms).toISOString();

describe.each(targets)('the store on $name with queue deadlines', ({ open }) => {
  let sql!: Sql;
  storePerTest(open, (opened) => {
    sql = opened;
  });

  const manifest = { name: 'job', inputSchema: {}, timeoutMs: 1_000, retries: 0, slotCost: 1 };
  const addWorker = () =>
    upsertWorker(
      sql,
      { name: 'w', url: 'http://127.0.0.1/w', slots: 10, labels: {}, tasks: [manifest] },
      'registered',
      1,
    );

  it('never claims an expired run, in the head claim or the scan claim, and claims one not expired yet', async () => {
    const w = await addWorker();
    const keyed = { concurrencyKey: 'k', concurrencyLimit: 5 };
    await insertRuns(
      sql,
      [
        { id: 'plain-expired', task: 'job', input: null, expiresAt: 100 },
        { id: 'keyed-expired', task: 'job', input: null, expiresAt: 100, ...keyed },
        { id: 'plain-live', task: 'job', input: null, expiresAt: 1_000 },
        { id: 'keyed-live', task: 'job', input: null, expiresAt: 1_000, ...keyed },
      ],
      10,
    );
    const claim = await claimRuns(sql, { workerId: w.id, max: 10, now: 500, leaseMs: 1_000 });
    expect(claim.runs.map((r) => r.id).sort()).toEqual(['keyed-live', 'plain-live']);
    // A claim clears the deadline: the run is no longer waiting in the queue.
    expect((await getRun(sql, 'plain-live'))?.expiresAt).toBeNull();
    expect((await getRun(sql, 'plain-expired'))?.state).toBe('QUEUED');
  });

  it('fails expired queued runs in batches, earliest first, and leaves the others', async () => {
    const runs = Array.from({ length: 1_200 }, (_, i) => ({
      id: `e${String(i).padStart(4, '0')}`,
      task: 'job',
      input: null,
      expiresAt: 100 + i,
    }));
    await insertRuns(sql, [...runs, { id: 'later', task: 'job', input: null, expiresAt: 10_000 }], 10);
    const failed = await expireQueuedRuns(sql, 5_000);
    expect(failed.length).toBe(1_200);
    const rows = await sql.query<{ state: string; n: number }>(
      'SELECT state, count(*)::int AS n FROM pw_runs GROUP BY state ORDER BY state',
    );
    expect(rows).toEqual([
      { state: 'FAILED', n: 1_200 },
      { state: 'QUEUED', n: 1 },
    ]);
    expect((await getRun(sql, 'e0000'))?.error).toMatchObject({ name: 'ScheduleTimeout' });
    expect(await expireQueuedRuns(sql, 5_000)).toEqual([]);
  });

  it('counts delayed runs as scheduled, not ready, and expired ones as neither', async () => {
    await insertRuns(
      sql,
      [
        { id: 'now', task: 'job', input: null },
        { id: 'later', task: 'job', input: null, availableAt: 5_000 },
        { id: 'expired', task: 'job', input: null, expiresAt: 50 },
      ],
      10,
    );
    expect(await taskStats(sql, 100)).toEqual([
      { task: 'job', queued: 3, ready: 1, scheduled: 1, assigned: 0, running: 0 },
    ]);
  });
});
