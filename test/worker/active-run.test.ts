// A run taken through its states: the outcome or an applied abort decides the result, and workerd defers the abort.
import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import type { RunEvent } from '../../src/protocol/schemas.ts';
import { createLogger } from '../../src/worker/log.ts';
import { EventReporter } from '../../src/worker/reporter.ts';
import { ActiveRun, RunAborted } from '../../src/worker/run.ts';
import { SlotBudget } from '../../src/worker/slots.ts';
import { type AnyTask, type TaskContext, task } from '../../src/worker/task.ts';

/** Runs on a real reporter and slot budget; the engine is a fetch that answers `stale` for the runs named. */
function setup({ heartbeatMs = 60_000, slots = 10 } = {}) {
  const posted: RunEvent[] = [];
  const stale = new Set<string>();
  const arrivals = new Set<(event: RunEvent) => void>();
  const reporter = new EventReporter({
    log: createLogger('silent'),
    fetch: async (_url, init) => {
      const { events } = JSON.parse(String(init?.body)) as { events: RunEvent[] };
      posted.push(...events);
      for (const event of events) for (const arrived of arrivals) arrived(event);
      return Response.json({ results: events.map((e) => (stale.has(e.runId) ? 'stale' : 'ok')) });
    },
  });
  const budget = new SlotBudget(slots);
  const log = createLogger('silent');
  let runs = 0;
  const run = (t: AnyTask, extra: { timeoutMs?: number } = {}) => {
    const assignment = {
      runId: `r${++runs}`,
      attempt: 1,
      task: t.name,
      input: {},
      slotCost: t.slotCost,
      ...extra,
    };
    expect(budget.tryReserve(t.slotCost)).toBe(true);
    const hooks = { onStarted() {}, onFinished() {}, onSettled() {} };
    const heartbeats = {
      reporter,
      slots: budget,
      log,
      heartbeatMs,
      defaultEventsUrl: 'http://engine.test/v1/events',
    };
    return new ActiveRun(assignment, t, {}, t.slotCost, { ...heartbeats, ...hooks });
  };
  return {
    reporter,
    budget,
    stale,
    run,
    types: (runId: string) => posted.filter((e) => e.runId === runId).map((e) => e.type),
    /** Resolves when the next event of `type` for `runId` reaches the engine. */
    next(runId: string, type: RunEvent['type']) {
      return new Promise<void>((resolve) => {
        const arrived = (event: RunEvent) => {
          if (event.runId !== runId || event.type !== type) return;
          arrivals.delete(arrived);
          resolve();
        };
        arrivals.add(arrived);
      });
    },
  };
}

/** A task that runs until `finish` is called, whatever its signal does; `ctx` is its context. */
function gated(options: { slotCost?: number } = {}) {
  let finish!: (output: unknown) => void;
  const done = new Promise((resolve) => {
    finish = resolve;
  });
  const gate = {
    ctx: undefined as TaskContext | undefined,
    finish: (output: unknown = { ok: true }) => finish(output),
    task: task({
      name: 'gated',
      input: z.object({}),
      ...options,
      run: (_input, ctx) => {
        gate.ctx = ctx;
        return done;
      },
    }),
  };
  return gate;
}

/** `promise`, or a failure naming `what` once `ms` have passed on the real clock. */
function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('a run in its states', () => {
  it('running → returned: the outcome is the result, and an abort after it changes nothing', async () => {
    const t = setup();
    const gate = gated();
    const run = t.run(gate.task);
    const { result, settled } = run.execute();
    expect(run.state).toEqual({ phase: 'running' });
    gate.finish({ n: 1 });
    expect(await result).toEqual({ runId: 'r1', attempt: 1, status: 'completed', output: { n: 1 } });
    await settled;
    expect(run.state).toEqual({ phase: 'returned', outcome: { output: { n: 1 } } });
    run.abort('Stale', 'too late');
    expect(run.state.phase).toBe('returned');
    expect(run.aborted).toBe(false);
    expect(run.signal.aborted).toBe(false);
  });

  it('running → aborting → aborted in one call where the signal may fire: the reason is the result at once', async () => {
    const t = setup();
    const gate = gated({ slotCost: 2 });
    const run = t.run(gate.task);
    const { result, settled } = run.execute();
    run.abort('Cancelled', 'the run was cancelled');
    expect(run.state).toEqual({ phase: 'aborted', reason: expect.any(RunAborted) });
    expect(run.aborted).toBe(true);
    expect(gate.ctx!.signal.aborted).toBe(true);
    expect((gate.ctx!.signal.reason as RunAborted).name).toBe('Cancelled');
    // The first reason stays.
    run.abort('TimeoutError', 'the run timed out');
    expect((run.state as { reason: RunAborted }).reason.name).toBe('Cancelled');
    expect(await result).toMatchObject({ status: 'failed', error: { name: 'Cancelled', retryable: false } });
    // The task function has not returned: its slots are still held.
    expect(t.budget.used).toBe(2);
    gate.finish();
    await settled;
    expect(t.budget.used).toBe(0);
    expect(run.state.phase).toBe('aborted');
    await t.reporter.flush();
    expect(t.types('r1')).toEqual(['started', 'failed']);
  });

  it('applies an abort that comes before any signal exists, and a signal made later is aborted', async () => {
    const t = setup();
    const run = t.run(task({ name: 'now', input: z.object({}), run: () => ({ ok: true }) }));
    const { result } = run.execute();
    run.abort('WorkerShutdown', 'the worker is shutting down');
    expect(run.state.phase).toBe('aborted');
    expect(await result).toMatchObject({
      status: 'failed',
      error: { name: 'WorkerShutdown', retryable: true },
    });
    expect(run.signal.aborted).toBe(true);
    expect((run.signal.reason as RunAborted).name).toBe('WorkerShutdown');
  });

  it('aborts as Stale when the engine answers a heartbeat stale, and says nothing more', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const t = setup({ heartbeatMs: 10 });
    const gate = gated();
    const run = t.run(gate.task);
    const started = t.next('r1', 'started');
    const { result } = run.execute();
    await started;
    t.stale.add('r1');
    await vi.advanceTimersByTimeAsync(10);
    expect(await result).toBeUndefined();
    expect(run.state).toEqual({ phase: 'aborted', reason: expect.any(RunAborted) });
    expect((gate.ctx!.signal.reason as RunAborted).name).toBe('Stale');
    gate.finish();
    await t.reporter.flush();
    expect(t.types('r1')).toEqual(['started', 'heartbeat']);
  });

  it('heartbeats while the task is pending, and stops once the result is known', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const t = setup({ heartbeatMs: 10 });
    const gate = gated();
    const run = t.run(gate.task);
    const { result } = run.execute();
    await vi.advanceTimersByTimeAsync(30);
    await t.reporter.flush();
    expect(t.types('r1')).toEqual(['started', 'heartbeat', 'heartbeat', 'heartbeat']);
    run.abort('Cancelled', 'the run was cancelled');
    await result;
    await vi.advanceTimersByTimeAsync(100);
    await t.reporter.flush();
    expect(t.types('r1')).toEqual(['started', 'heartbeat', 'heartbeat', 'heartbeat', 'failed']);
    expect(vi.getTimerCount()).toBe(0);
    gate.finish();
  });

  it('times out at the deadline as a retryable TimeoutError, and refreshTimeout moves the deadline', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const t = setup();
    const gate = gated();
    const run = t.run(gate.task, { timeoutMs: 100 });
    const { result } = run.execute();
    await vi.advanceTimersByTimeAsync(99);
    expect(run.state.phase).toBe('running');
    gate.ctx!.refreshTimeout(50);
    await vi.advanceTimersByTimeAsync(50);
    expect(run.state.phase).toBe('running');
    await vi.advanceTimersByTimeAsync(1);
    expect(run.state.phase).toBe('aborted');
    expect(await result).toMatchObject({
      status: 'failed',
      error: { name: 'TimeoutError', retryable: true },
    });
    gate.finish();
    await t.reporter.flush();
    expect(t.types('r1')).toEqual(['started', 'timeout_refreshed', 'failed']);
  });

  it('gives its slots back once: by hand, with slot_released, and not again when the task returns', async () => {
    const t = setup({ slots: 3 });
    const gate = gated({ slotCost: 2 });
    const run = t.run(gate.task);
    expect(t.budget.tryReserve(1)).toBe(true);
    const { result, settled } = run.execute();
    gate.ctx!.releaseSlot();
    gate.ctx!.releaseSlot();
    expect(t.budget.used).toBe(1);
    gate.finish();
    await result;
    await settled;
    expect(t.budget.used).toBe(1);
    await t.reporter.flush();
    expect(t.types('r1')).toEqual(['started', 'slot_released', 'completed']);
  });
});

describe('a run on workerd, where only the request that made a controller may abort it', () => {
  const requests = new AsyncLocalStorage<string>();
  class RequestBoundController extends AbortController {
    private readonly request = requests.getStore();
    override abort(reason?: unknown): void {
      if (requests.getStore() !== this.request)
        throw new Error('Cannot perform I/O on behalf of a different request.');
      super.abort(reason);
    }
  }

  it('leaves a cancel from another request aborting, and the next heartbeat tick applies it in place of a heartbeat', async () => {
    vi.stubGlobal('AbortController', RequestBoundController);
    const t = setup({ heartbeatMs: 20 });
    const gate = gated();
    const run = t.run(gate.task);
    const firstHeartbeat = t.next('r1', 'heartbeat');
    const { result } = requests.run('push', () => run.execute());
    // Right after a heartbeat has arrived, so that no other is on its way when the cancel comes.
    await within(firstHeartbeat, 'heartbeat');
    requests.run('cancel', () => run.abort('Cancelled', 'the run was cancelled'));
    expect(run.state).toEqual({ phase: 'aborting', reason: expect.any(RunAborted) });
    expect(run.aborted).toBe(true);
    expect(gate.ctx!.signal.aborted).toBe(false);
    // A second reason, even from the run's own request, neither replaces the first nor applies it sooner.
    requests.run('push', () => run.abort('TimeoutError', 'the run timed out'));
    expect(run.state).toMatchObject({ phase: 'aborting', reason: { name: 'Cancelled' } });
    expect(await within(result, 'result')).toMatchObject({ status: 'failed', error: { name: 'Cancelled' } });
    expect(run.state.phase).toBe('aborted');
    expect(gate.ctx!.signal.aborted).toBe(true);
    gate.finish();
    await t.reporter.flush();
    expect(t.types('r1')).toEqual(['started', 'heartbeat', 'failed']);
  });

  it('keeps the outcome as the result when the task returns before a waiting abort is applied', async () => {
    vi.stubGlobal('AbortController', RequestBoundController);
    const t = setup({ heartbeatMs: 60_000 });
    const gate = gated();
    const run = t.run(gate.task);
    const { result } = requests.run('push', () => run.execute());
    requests.run('cancel', () => run.abort('Cancelled', 'the run was cancelled'));
    expect(run.state.phase).toBe('aborting');
    gate.finish({ n: 2 });
    expect(await result).toMatchObject({ status: 'completed', output: { n: 2 } });
    expect(run.state.phase).toBe('returned');
    expect(gate.ctx!.signal.aborted).toBe(false);
  });
});
