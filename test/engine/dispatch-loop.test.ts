// The dispatch loop driven by hand: rounds back to back, sleeps a wake cuts short, stops, and the work left behind.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DispatchLoop, type RoundResult } from '../../src/engine/dispatch-loop.ts';

const POLL_MS = 1_000;
const NOTHING: RoundResult = { more: false, workLeft: false };

/** Rounds the test ends by hand, one at a time. */
function scriptedRounds() {
  const rounds: { end: (found: RoundResult) => void; fail: (error: Error) => void }[] = [];
  let ended = 0;
  const round = () =>
    new Promise<RoundResult>((end, fail) => {
      rounds.push({ end, fail });
    });
  const errors: unknown[] = [];
  const loop = new DispatchLoop({ pollIntervalMs: POLL_MS, round, onError: (e) => errors.push(e) });
  /** The round under way, once the loop has started it. */
  const underWay = async () => {
    await flush();
    expect(rounds.length, 'a round under way').toBe(ended + 1);
    return rounds[ended++]!;
  };
  return {
    loop,
    errors,
    /** Ends the round under way, then lets the loop act on it. */
    async end(found: RoundResult = NOTHING) {
      (await underWay()).end(found);
      await flush();
    },
    async fail(error: Error) {
      (await underWay()).fail(error);
      await flush();
    },
    get started() {
      return rounds.length;
    },
  };
}

/** Runs what is due now and the promise callbacks it sets off, without moving the clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the dispatch loop', () => {
  it('starts with a round, sleeps after one that found nothing, and polls again after the interval', async () => {
    const t = scriptedRounds();
    expect(t.loop.state.phase).toBe('stopped');
    expect(t.loop.start()).toBe(true);
    expect(t.loop.start()).toBe(false);
    expect(t.loop.state).toEqual({ phase: 'round', woken: false });
    expect(t.started).toBe(1);
    await t.end();
    expect(t.loop.state.phase).toBe('sleeping');
    await vi.advanceTimersByTimeAsync(POLL_MS - 1);
    expect(t.started).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.started).toBe(2);
    expect(t.loop.state.phase).toBe('round');
  });

  it('sleeps only until the next run comes due when that is sooner than the poll, with one timer', async () => {
    const t = scriptedRounds();
    t.loop.start();
    await t.end({ more: false, workLeft: false, nextDueAt: Date.now() + 200 });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(199);
    expect(t.started).toBe(1);
    await vi.advanceTimersByTimeAsync(5);
    expect(t.started).toBe(2);
    // A due time past the poll leaves the poll's sleep; one already come starts the next round at once.
    await t.end({ more: false, workLeft: false, nextDueAt: Date.now() + 10 * POLL_MS });
    await vi.advanceTimersByTimeAsync(POLL_MS - 1);
    expect(t.started).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.started).toBe(3);
    await t.end({ more: false, workLeft: false, nextDueAt: Date.now() - 5 });
    expect(t.started).toBe(4);
    expect(t.loop.state).toEqual({ phase: 'round', woken: false });
  });

  it('follows a round that found more with another at once', async () => {
    const t = scriptedRounds();
    t.loop.start();
    await t.end({ more: true, workLeft: false });
    expect(t.started).toBe(2);
    expect(t.loop.state).toEqual({ phase: 'round', woken: false });
  });

  it('follows a round woken while under way with another at once, and only one', async () => {
    const t = scriptedRounds();
    t.loop.start();
    expect(t.loop.woken).toBe(false);
    t.loop.wake();
    t.loop.wake();
    expect(t.loop.state).toEqual({ phase: 'round', woken: true });
    // The round under way can tell that another follows it (the dispatcher then leaves the due time to it).
    expect(t.loop.woken).toBe(true);
    await t.end();
    expect(t.started).toBe(2);
    expect(t.loop.state).toEqual({ phase: 'round', woken: false });
    expect(t.loop.woken).toBe(false);
    await t.end();
    expect(t.loop.state.phase).toBe('sleeping');
  });

  it('cuts a sleep short on a wake, and drops the sleep timer', async () => {
    const t = scriptedRounds();
    t.loop.start();
    await t.end();
    expect(vi.getTimerCount()).toBe(1);
    t.loop.wake();
    expect(t.loop.state).toEqual({ phase: 'round', woken: false });
    expect(vi.getTimerCount()).toBe(0);
    await flush();
    expect(t.started).toBe(2);
  });

  it('ignores a wake while stopped', async () => {
    const t = scriptedRounds();
    t.loop.wake();
    await flush();
    expect(t.loop.state.phase).toBe('stopped');
    expect(t.started).toBe(0);
  });

  it('remembers the work the last round left behind, from before the first round on', async () => {
    const t = scriptedRounds();
    expect(t.loop.workLeft).toBe(true);
    t.loop.start();
    await t.end(NOTHING);
    expect(t.loop.workLeft).toBe(false);
    t.loop.wake();
    await t.end({ more: false, workLeft: true });
    expect(t.loop.workLeft).toBe(true);
    t.loop.wake();
    // A whole batch may have left more behind too.
    await t.end({ more: true, workLeft: false });
    expect(t.loop.workLeft).toBe(true);
  });

  it('reports a round that throws, keeps the last answer about work left, and sleeps', async () => {
    const t = scriptedRounds();
    t.loop.start();
    await t.end({ more: false, workLeft: true });
    t.loop.wake();
    const boom = new Error('boom');
    await t.fail(boom);
    expect(t.errors).toEqual([boom]);
    expect(t.loop.workLeft).toBe(true);
    expect(t.loop.state.phase).toBe('sleeping');
  });

  it('stops during a round: the round sees it at once, and stop waits for it to end', async () => {
    const t = scriptedRounds();
    t.loop.start();
    expect(t.loop.active).toBe(true);
    let stopped = false;
    const stopping = t.loop.stop().then(() => {
      stopped = true;
    });
    expect(t.loop.active).toBe(false);
    expect(t.loop.state.phase).toBe('stopping');
    await flush();
    expect(stopped).toBe(false);
    await t.end({ more: true, workLeft: true });
    await stopping;
    expect(t.loop.state.phase).toBe('stopped');
    await vi.advanceTimersByTimeAsync(10 * POLL_MS);
    expect(t.started).toBe(1);
  });

  it('stops during a sleep without waiting it out', async () => {
    const t = scriptedRounds();
    t.loop.start();
    await t.end();
    await t.loop.stop();
    expect(t.loop.state.phase).toBe('stopped');
    expect(vi.getTimerCount()).toBe(0);
    t.loop.wake();
    await flush();
    expect(t.started).toBe(1);
  });

  it('carries on with the same loop when started again before a stop has ended', async () => {
    const t = scriptedRounds();
    t.loop.start();
    const stopping = t.loop.stop();
    expect(t.loop.start()).toBe(true);
    expect(t.loop.active).toBe(true);
    await t.end({ more: true, workLeft: false });
    expect(t.started).toBe(2);
    await t.end({ more: true, workLeft: false });
    // One loop: each round ended starts one more, not two.
    expect(t.started).toBe(3);
    const again = t.loop.stop();
    await t.end();
    await Promise.all([stopping, again]);
    expect(t.loop.state.phase).toBe('stopped');
  });
});
