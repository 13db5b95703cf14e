// A run clock driven by hand: no timers until it starts, a deadline the task moves, a stop for good.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RunClock } from '../../src/worker/run-clock.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function clockOf(timeoutMs: number, heartbeatMs: number) {
  const seen: string[] = [];
  const clock = new RunClock(Date.now() + timeoutMs, heartbeatMs);
  const start = () =>
    clock.start(
      () => seen.push('tick'),
      () => seen.push('timeout'),
    );
  return { clock, seen, start };
}

describe('a run clock', () => {
  it('makes no timers until started, and ticks and times out once it is', () => {
    const c = clockOf(100, 30);
    expect(c.clock.state.phase).toBe('idle');
    expect(vi.getTimerCount()).toBe(0);
    c.start();
    expect(c.clock.state.phase).toBe('ticking');
    vi.advanceTimersByTime(100);
    expect(c.seen).toEqual(['tick', 'tick', 'tick', 'timeout']);
  });

  it('keeps a deadline moved while idle for when it starts', () => {
    const c = clockOf(100, 1_000);
    c.clock.extend(50);
    c.start();
    vi.advanceTimersByTime(149);
    expect(c.seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(c.seen).toEqual(['timeout']);
  });

  it('moves the timeout while ticking, from the deadline rather than from now', () => {
    const c = clockOf(100, 1_000);
    c.start();
    vi.advanceTimersByTime(60);
    c.clock.extend(50);
    vi.advanceTimersByTime(89);
    expect(c.seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(c.seen).toEqual(['timeout']);
  });

  it('stops for good: its timers go, and neither extend nor start makes new ones', () => {
    const c = clockOf(100, 10);
    c.start();
    c.clock.stop();
    expect(c.clock.state.phase).toBe('stopped');
    expect(vi.getTimerCount()).toBe(0);
    c.clock.extend(50);
    c.start();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(c.seen).toEqual([]);
  });
});
