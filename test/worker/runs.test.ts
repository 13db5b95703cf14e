import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignment, batch } from '../support/push.ts';
import { until } from '../support/until.ts';
import { type Harness, startHarness } from '../support/worker.ts';

describe('running tasks', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ slots: 4 });
  });
  afterAll(() => h.close());

  const push = async (...assignments: ReturnType<typeof assignment>[]) => {
    const res = await h.pusher.send(h.url, batch(...assignments));
    return res;
  };
  const terminal = (runId: string) =>
    h.sink.waitFor(() => h.sink.of(runId).some((e) => e.type === 'completed' || e.type === 'failed'));

  it('reports a thrown error as a retryable failure, and NonRetryableError as final', async () => {
    const retryable = assignment('fail', { retryable: true });
    const final = assignment('fail', { retryable: false });
    expect((await push(retryable, final)).status).toBe(202);
    await terminal(retryable.runId);
    await terminal(final.runId);
    expect(h.sink.of(retryable.runId, 'failed')[0]).toMatchObject({
      error: { name: 'Error', message: 'boom', retryable: true },
    });
    expect(h.sink.of(final.runId, 'failed')[0]).toMatchObject({
      error: { name: 'NonRetryableError', retryable: false },
    });
  });

  it('heartbeats while a task runs', async () => {
    const a = assignment('sleep', { ms: 400 });
    await push(a);
    await terminal(a.runId);
    expect(h.sink.of(a.runId, 'heartbeat').length).toBeGreaterThanOrEqual(2);
    expect(h.sink.of(a.runId).at(-1)?.type).toBe('completed');
  });

  it('aborts a task when the engine answers stale, and reports nothing more for that attempt', async () => {
    const a = assignment('sleep', { ms: 10_000 });
    h.sink.stale.add(a.runId);
    await push(a);
    await h.sink.waitFor(() => h.sink.of(a.runId, 'started').length === 1);
    await until(() => h.probe.aborts.includes('Stale'), 'the stale answer to abort the task', {
      detail: () => h.probe.aborts,
    });
    // Every event raised so far has been answered, and none of them ends the attempt.
    expect(await h.worker.flush(5_000)).toBe(true);
    expect(h.sink.of(a.runId).filter((e) => e.type === 'completed' || e.type === 'failed')).toEqual([]);
    expect(h.worker.health().slots.used).toBe(0);
  });

  it('times a run out: the signal fires and the run fails as a retryable TimeoutError', async () => {
    const a = assignment('sleep', { ms: 10_000 }, { timeoutMs: 100 });
    await push(a);
    await terminal(a.runId);
    expect(h.sink.of(a.runId, 'failed')[0]).toMatchObject({
      error: { name: 'TimeoutError', retryable: true },
    });
  });

  it('refreshTimeout moves the deadline and tells the engine', async () => {
    const a = assignment('refresh', { ms: 300 });
    await push(a);
    await terminal(a.runId);
    expect(h.sink.of(a.runId, 'timeout_refreshed')[0]).toMatchObject({ incrementMs: 1_000 });
    expect(h.sink.of(a.runId, 'completed')).toHaveLength(1);
  });

  it('releases the slot by hand: a second run starts while the first goes on', async () => {
    const fill = [1, 2, 3].map(() => assignment('sleep', { ms: 400 }));
    const released = assignment('release', { ms: 400 });
    expect((await push(...fill, released)).json.accepted).toHaveLength(4);
    await h.sink.waitFor(() => h.sink.of(released.runId, 'slot_released').length === 1);
    expect(h.worker.health().slots.used).toBe(3);
    const next = assignment('echo', { message: 'fits' });
    expect((await push(next)).json.accepted).toHaveLength(1);
    await terminal(next.runId);
    await terminal(released.runId);
    expect(h.sink.of(released.runId, 'completed')).toHaveLength(1);
  });

  it('keeps a task within the slot budget by slot cost, and answers 429 when nothing fits', async () => {
    const heavy = [1, 2].map(() => assignment('heavy', { ms: 300 }));
    const res = await push(...heavy);
    expect(res.json.accepted).toHaveLength(1);
    expect(res.json.rejected).toMatchObject([{ reason: 'no_slot' }]);
    const full = await push(assignment('heavy', { ms: 10 }));
    expect(full.status).toBe(429);
    expect(full.json.error.code).toBe('no_slot');
    expect(full.headers.get('retry-after')).toBe('1');
    await terminal(heavy[0]!.runId);
  });

  it('retries event posts through engine errors and loses none', async () => {
    h.sink.failNext(3, 503);
    const a = assignment('echo', { message: 'eventually' });
    await push(a);
    await terminal(a.runId);
    expect(h.sink.of(a.runId).map((e) => e.type)).toEqual(['started', 'completed']);
    expect(h.worker.metrics.render()).toMatch(
      /pushworker_event_post_failures_total\{outcome="retry"\} [3-9]/,
    );
  });

  it('drops events the engine refuses for good, logging what it said', async () => {
    h.sink.failNext(1, 400);
    const a = assignment('echo', { message: 'refused' });
    await push(a);
    await until(
      () =>
        h.logs.some((l) => l.includes('the engine answered 400 invalid_request: refused by the test engine')),
      'the refusal in the log',
      { detail: () => h.logs },
    );
    expect(h.worker.metrics.render()).toMatch(
      /pushworker_event_post_failures_total\{outcome="dropped"\} [1-9]/,
    );
  });

  it('batches events that are pending together into one post', async () => {
    const before = h.sink.posts;
    const runs = [1, 2, 3, 4].map(() => assignment('echo', { message: 'b' }));
    await push(...runs);
    for (const r of runs) await terminal(r.runId);
    expect(h.sink.posts - before).toBeLessThan(8);
  });
});

describe('sync mode', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ mode: 'sync', slots: 2, syncFlushTimeoutMs: 200 });
  });
  afterAll(() => h.close());

  it('runs inside the request and answers 200 with results, posting events too', async () => {
    const ok = assignment('echo', { message: 'sync' });
    const bad = assignment('fail', { retryable: false });
    const unknown = assignment('nope', {});
    const res = await h.pusher.send(h.url, batch(ok, bad, unknown));
    expect(res.status).toBe(200);
    expect(res.json.results).toEqual([
      { runId: ok.runId, attempt: 1, status: 'completed', output: { message: 'sync' } },
      {
        runId: bad.runId,
        attempt: 1,
        status: 'failed',
        error: {
          name: 'NonRetryableError',
          message: 'bad input for good',
          retryable: false,
          stack: expect.stringMatching(/^NonRetryableError: bad input for good\n\s+at /),
        },
      },
    ]);
    expect(res.json.rejected).toMatchObject([{ runId: unknown.runId, reason: 'unknown_task' }]);
    // Events were flushed before the answer.
    expect(h.sink.of(ok.runId).map((e) => e.type)).toEqual(['started', 'completed']);
  });

  it('answers 429 when every slot is taken', async () => {
    const long = [1, 2].map(() => assignment('sleep', { ms: 300 }));
    const first = h.pusher.send(h.url, batch(...long));
    await h.sink.waitFor(() => long.every((a) => h.sink.of(a.runId, 'started').length === 1));
    const res = await h.pusher.send(h.url, batch(assignment('echo', { message: 'x' })));
    expect(res.status).toBe(429);
    expect((await first).json.results).toHaveLength(2);
  });

  it('answers with the results when the engine cannot take events, and delivers them once it is back', async () => {
    h.sink.down = true;
    const a = assignment('echo', { message: 'engine down' });
    const res = await h.pusher.send(h.url, batch(a));
    expect(res.status).toBe(200);
    expect(res.json.results).toMatchObject([{ runId: a.runId, status: 'completed' }]);
    expect(h.sink.of(a.runId)).toEqual([]);
    h.sink.down = false;
    await h.sink.waitFor(() => h.sink.of(a.runId, 'completed').length === 1);
  });
});
