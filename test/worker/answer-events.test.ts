import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignment } from '../support/push.ts';
import { type Harness, startHarness } from '../support/worker.ts';

/** A push that lets the worker hold its runs' events for the answer. */
const offering = (answerWithinMs: number, ...assignments: unknown[]) =>
  JSON.stringify({ v: 1, answerWithinMs, assignments });

describe.each(['async', 'sync'] as const)('events in the answer, %s mode', (mode) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ mode });
  });
  afterAll(() => h.close());

  const okStatus = mode === 'async' ? 202 : 200;
  /** The types of the events posted for a run, but its heartbeats (every 50 ms here). */
  const postedTypes = (runId: string) =>
    h.sink
      .of(runId)
      .map((e) => e.type)
      .filter((t) => t !== 'heartbeat');

  /** Once a later run's events have been posted, nothing of `runId` can still be on its way. */
  const postedAfterwards = async (runId: string) => {
    const later = assignment('echo', { message: 'later' });
    expect((await h.pusher.send(h.url, JSON.stringify({ v: 1, assignments: [later] }))).status).toBe(
      okStatus,
    );
    await h.sink.waitFor(() => h.sink.of(later.runId, 'completed').length === 1);
    return h.sink.of(runId);
  };

  it('carries the events of a run that ended within the window, in order, and posts none of them', async () => {
    const a = assignment('echo', { message: 'quick' });
    const res = await h.pusher.send(h.url, offering(1_000, a));
    expect(res.status).toBe(okStatus);
    const events = res.json.events as { runId: string; attempt: number; type: string; at: string }[];
    expect(events.map((e) => [e.runId, e.attempt, e.type])).toEqual([
      [a.runId, 1, 'started'],
      [a.runId, 1, 'completed'],
    ]);
    expect(events[1]).toMatchObject({ output: { message: 'quick' } });
    expect(Date.parse(events[0]!.at)).toBeLessThanOrEqual(Date.parse(events[1]!.at));
    expect(await postedAfterwards(a.runId)).toEqual([]);
  });

  it('posts the events of a run still running when the window ends, and carries none of them', async () => {
    const slow = assignment('sleep', { ms: 300 });
    const res = await h.pusher.send(h.url, offering(20, slow));
    expect(res.status).toBe(okStatus);
    expect(res.json.events).toBeUndefined();
    await h.sink.waitFor(() => h.sink.of(slow.runId, 'completed').length === 1);
    expect(postedTypes(slow.runId)).toEqual(['started', 'completed']);
  });

  it('splits one push: the quick run travels in the answer, the slow one is posted', async () => {
    const quick = assignment('echo', { message: 'quick' });
    const slow = assignment('sleep', { ms: 400 });
    const res = await h.pusher.send(h.url, offering(150, quick, slow));
    expect(res.status).toBe(okStatus);
    expect((res.json.events as { runId: string }[]).map((e) => e.runId)).toEqual([quick.runId, quick.runId]);
    await h.sink.waitFor(() => h.sink.of(slow.runId, 'completed').length === 1);
    expect(postedTypes(slow.runId)).toEqual(['started', 'completed']);
    expect(await postedAfterwards(quick.runId)).toEqual([]);
  });

  it('has flush wait for the events a pending answer holds', async () => {
    const slow = assignment('sleep', { ms: 1_000 });
    const answer = h.pusher.send(h.url, offering(300, slow));
    await h.sink.waitFor(() => h.probe.ran.includes(slow.runId));
    expect(await h.worker.flush(5_000)).toBe(true);
    expect(postedTypes(slow.runId)[0]).toBe('started');
    expect((await answer).status).toBe(okStatus);
  });

  it('carries a failure as the failed event', async () => {
    const a = assignment('fail', { retryable: false });
    const res = await h.pusher.send(h.url, offering(1_000, a));
    expect(res.status).toBe(okStatus);
    expect(res.json.events.map((e: { type: string }) => e.type)).toEqual(['started', 'failed']);
    expect(res.json.events[1].error).toMatchObject({ name: 'NonRetryableError', retryable: false });
    expect(await postedAfterwards(a.runId)).toEqual([]);
  });

  it('refuses an offer longer than the protocol allows, running nothing', async () => {
    const a = assignment('echo', { message: 'never' });
    const res = await h.pusher.send(h.url, offering(1_001, a));
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_request');
    expect(await postedAfterwards(a.runId)).toEqual([]);
    expect(h.probe.ran).not.toContain(a.runId);
  });
});
