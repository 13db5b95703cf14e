import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type AnyTask, RunAborted, type TaskContext, task } from '../../src/index.ts';
import type { RunEvent } from '../../src/protocol/schemas.ts';
import { EventsOrigins } from '../../src/worker/events-origins.ts';
import { childLogger, createLogger } from '../../src/worker/log.ts';
import { Metrics } from '../../src/worker/metrics.ts';
import type { EventReporter } from '../../src/worker/reporter.ts';
import { RunLog } from '../../src/worker/run-log.ts';
import { Runner } from '../../src/worker/runner.ts';
import { SlotBudget } from '../../src/worker/slots.ts';

/** A runner wired to a reporter that records events and answers at once. */
function runnerOf(tasks: AnyTask[], { heartbeatMs = 10 } = {}) {
  const events: RunEvent[] = [];
  const reporter = {
    report: async (_url: string | undefined, event: RunEvent) => {
      events.push(event);
      return 'ok' as const;
    },
  } as unknown as EventReporter;
  const metrics = new Metrics();
  const slots = new SlotBudget(10);
  const runner = new Runner(
    new Map(tasks.map((t) => [t.name, t])),
    {
      reporter,
      slots,
      log: createLogger('silent'),
      heartbeatMs,
      defaultEventsUrl: 'http://engine/v1/events',
    },
    metrics,
    new RunLog(createLogger('silent')),
    new EventsOrigins('worker-token', 'http://engine'),
  );
  const start = (name: string, runId: string, extra: Record<string, unknown> = {}) => {
    const { started, rejected } = runner.admit([
      { runId, attempt: 1, task: name, input: {}, slotCost: 1, ...extra },
    ]);
    expect(rejected).toEqual([]);
    return started[0]!;
  };
  const typesOf = (runId: string) => events.filter((e) => e.runId === runId).map((e) => e.type);
  return { runner, metrics, slots, events, start, typesOf };
}

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a run', () => {
  it('runs a task that returns at once: started then completed, counted by task', async () => {
    const t = runnerOf([task({ name: 'now', input: z.object({}), run: () => ({ ok: true }) })]);
    const run = t.start('now', 'r1');
    expect(await run.result).toEqual({ runId: 'r1', attempt: 1, status: 'completed', output: { ok: true } });
    await run.settled;
    expect(t.typesOf('r1')).toEqual(['started', 'completed']);
    expect(t.events[0]).toMatchObject({ type: 'started', runId: 'r1', attempt: 1 });
    expect(typeof t.events[0]!.at).toBe('string');
    expect(t.slots.used).toBe(0);
    expect(t.runner.size).toBe(0);
    expect(t.metrics.render()).toContain('pushworker_runs_started_total{task="now"} 1');
    expect(t.metrics.render()).toContain('pushworker_runs_completed_total{task="now"} 1');
  });

  it("sends the task's lines at info and up with its events, the count of dropped ones before its end", async () => {
    const t = runnerOf([
      task({
        name: 'chatty',
        input: z.object({}),
        run: (_input, ctx) => {
          ctx.log.debug('kept local');
          for (let i = 0; i < 250; i++) ctx.log.info(`line ${i}`, { i });
          return 'ok';
        },
      }),
    ]);
    const run = t.start('chatty', 'r-log');
    await run.result;
    const types = t.typesOf('r-log');
    expect(types[0]).toBe('started');
    expect(types.at(-1)).toBe('completed');
    const lines = t.events.filter((e) => e.type === 'log');
    expect(lines).toHaveLength(201);
    expect(lines[0]).toMatchObject({
      runId: 'r-log',
      attempt: 1,
      seq: 1,
      level: 'info',
      message: 'line 0',
      fields: { i: 0 },
    });
    expect(lines.at(-1)).toMatchObject({ seq: 201, level: 'warn', message: '50 lines dropped' });
  });

  it("keeps the task's lines local when the caller reports the outcome itself (Hatchet)", async () => {
    const t = runnerOf([
      task({
        name: 'hatchet-logs',
        input: z.object({}),
        run: (_input, ctx) => {
          ctx.log.warn('only here');
          return 'ok';
        },
      }),
    ]);
    const { started } = t.runner.admit(
      [{ runId: 'r-hatchet', attempt: 1, task: 'hatchet-logs', input: {}, slotCost: 1 }],
      { reportEvents: false },
    );
    expect(await started[0]!.result).toMatchObject({ status: 'completed' });
    expect(t.typesOf('r-hatchet')).not.toContain('log');
  });

  it('heartbeats and times out a task that returns a thenable that is not a Promise', async () => {
    // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a Promise, on purpose.
    const never = { then: (_resolve: (v: unknown) => void) => undefined };
    const t = runnerOf([task({ name: 'thenable', input: z.object({}), run: () => never })]);
    const run = t.start('thenable', 'r2', { timeoutMs: 80 });
    const result = await run.result;
    expect(result).toMatchObject({ status: 'failed', error: { name: 'TimeoutError', retryable: true } });
    expect(t.typesOf('r2').filter((e) => e === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    expect(t.metrics.render()).toContain('pushworker_runs_failed_total{task="thenable"} 1');
  });

  it('gives a task that looks at its signal only after a cancel an aborted signal with the reason', async () => {
    const gate = deferred();
    let seen: { aborted: boolean; reason: unknown } | undefined;
    const t = runnerOf([
      task({
        name: 'late',
        input: z.object({}),
        run: async (_i, ctx) => {
          await gate.promise;
          seen = { aborted: ctx.signal.aborted, reason: ctx.signal.reason };
        },
      }),
    ]);
    const run = t.start('late', 'r3');
    await sleep(5);
    expect(t.runner.cancel([{ runId: 'r3', attempt: 1 }])).toEqual({
      cancelled: [{ runId: 'r3', attempt: 1 }],
      unknown: [],
    });
    expect(await run.result).toMatchObject({
      status: 'failed',
      error: { name: 'Cancelled', retryable: false },
    });
    // The slot is held until the task function itself returns.
    expect(t.slots.used).toBe(1);
    gate.resolve();
    await run.settled;
    expect(t.slots.used).toBe(0);
    expect(seen).toMatchObject({ aborted: true, reason: expect.any(RunAborted) });
    expect((seen!.reason as RunAborted).name).toBe('Cancelled');
  });

  it('fires the signal a task listens to, once, on a cancel', async () => {
    const reasons: string[] = [];
    const t = runnerOf([
      task({
        name: 'listen',
        input: z.object({}),
        run: (_i, ctx) =>
          new Promise((_, reject) => {
            expect(ctx.signal).toBe(ctx.signal);
            ctx.signal.addEventListener('abort', () => {
              reasons.push((ctx.signal.reason as Error).name);
              reject(ctx.signal.reason);
            });
          }),
      }),
    ]);
    const run = t.start('listen', 'r4');
    t.runner.cancel([{ runId: 'r4', attempt: 1 }]);
    t.runner.cancel([{ runId: 'r4', attempt: 1 }]);
    expect(await run.result).toMatchObject({ status: 'failed', error: { name: 'Cancelled' } });
    await run.settled;
    expect(reasons).toEqual(['Cancelled']);
    expect(t.typesOf('r4')).toEqual(['started', 'failed']);
  });

  it('keeps the context methods working when a task destructures them', async () => {
    let ctxSeen: TaskContext | undefined;
    const t = runnerOf([
      task({
        name: 'parts',
        input: z.object({}),
        timeoutMs: 60,
        run: async (_i, ctx) => {
          ctxSeen = ctx;
          const { heartbeat, refreshTimeout, releaseSlot, log } = ctx;
          await heartbeat();
          refreshTimeout(100);
          releaseSlot();
          log.info('still here');
          await sleep(100);
          return 'done';
        },
      }),
    ]);
    const run = t.start('parts', 'r5');
    expect(await run.result).toMatchObject({ status: 'completed', output: 'done' });
    expect(t.typesOf('r5')).toEqual(
      expect.arrayContaining(['started', 'heartbeat', 'timeout_refreshed', 'slot_released', 'completed']),
    );
    expect(ctxSeen?.log).toBe(ctxSeen?.log);
    expect(Object.keys(ctxSeen!)).toEqual(
      expect.arrayContaining(['runId', 'attempt', 'task', 'metadata', 'signal', 'log', 'heartbeat']),
    );
  });
});

describe('metrics and logs on the hot path', () => {
  it('counts a counter fixed to labels into the same series as inc with those labels', () => {
    const metrics = new Metrics();
    const counter = metrics.counter('things_total', 'Things.');
    const fixed = counter.with({ kind: 'a "quoted" one' });
    fixed.inc();
    counter.inc({ kind: 'a "quoted" one' }, 2);
    fixed.inc(3);
    expect(counter.get({ kind: 'a "quoted" one' })).toBe(6);
    expect(metrics.render()).toContain('things_total{kind="a \\"quoted\\" one"} 6');
  });

  it('gives a child logger its fields, also when its methods are called detached', () => {
    const lines: string[] = [];
    const child = childLogger(
      createLogger('debug', (line) => lines.push(line)),
      { task: 't', runId: 'r' },
    );
    const { info, error } = child;
    info('hello', { extra: 1 });
    error('oops', { runId: 'other' });
    child.debug('dbg');
    expect(lines).toEqual([
      '[INFO]  pushworker -- hello task=t runId=r extra=1',
      '[ERROR] pushworker -- oops task=t runId=other',
      '[DEBUG] pushworker -- dbg task=t runId=r',
    ]);
  });
});
