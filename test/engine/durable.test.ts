// Durable tasks on both stores: steps recorded once and returned on the next push, a sleep that gives its slots
// back and ends on time, waits woken by a matching published event or timed out, a worker killed between two
// steps resumed on another from the last recorded step, and a sync-mode worker that suspends in its answer.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { task } from '../../src/index.ts';
import { echo, gate, type Harness, harnessPerTest, until } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

describe.each(storeTargets('pw_durable'))('durable tasks on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;

  const counted = () => {
    const calls = { first: 0, second: 0 };
    const durable = task({
      name: 'durable.two-steps',
      input: z.object({ n: z.number(), sleepMs: z.number().default(300) }),
      run: async ({ n, sleepMs }, ctx) => {
        const a = await ctx.step('first', () => {
          calls.first++;
          return n + 1;
        });
        await ctx.sleep(sleepMs);
        const b = await ctx.step('second', () => {
          calls.second++;
          return a * 2;
        });
        return { a, b };
      },
    });
    return { calls, durable };
  };

  it('records each step once, sleeps without holding its slot, and returns the recorded results after the sleep', async () => {
    h = await harness.start();
    const { calls, durable } = counted();
    await h.addWorker('durable', { tasks: [durable, echo], slots: 1 });
    const run = await h.client.enqueue({ task: 'durable.two-steps', input: { n: 4, sleepMs: 1_500 } });
    const sleeping = await until(async () => {
      const r = await h.client.getRun(run.id);
      return r.state === 'QUEUED' && r.attempt === 1 ? r : undefined;
    }, 'the run to suspend');
    expect(sleeping.waitingFor).toMatch(/^the end of its sleep "sleep:1" at /);
    expect(sleeping.journal).toMatchObject({
      first: { kind: 'step', output: 5 },
      'sleep:1': { kind: 'sleep' },
    });
    // The one slot is free while it sleeps.
    const other = await h.client.enqueue({ task: 'echo', input: { ok: true } });
    expect((await h.client.waitRun(other.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    expect((await h.client.getRun(run.id)).state).toBe('QUEUED');

    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: { a: 5, b: 10 }, attempt: 2, failures: 0 });
    expect(Date.parse(done.finishedAt!) - Date.parse(sleeping.createdAt)).toBeGreaterThanOrEqual(1_500);
    expect(calls).toEqual({ first: 1, second: 1 });
    const detail = await h.client.getRun(run.id);
    expect(detail.attempts.map((a) => a.outcome)).toEqual(['suspended', 'completed']);
    expect(detail.journal).toMatchObject({ first: { output: 5 }, second: { kind: 'step', output: 10 } });

    // Retried by hand, a durable run starts afresh: its steps run again.
    await h.client.retryRun(run.id);
    expect((await h.client.getRun(run.id)).journal).toBeUndefined();
    expect((await h.client.waitRun(run.id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    expect(calls).toEqual({ first: 2, second: 2 });
  });

  it('wakes a wait on a published event its filter matches, and times out one no event matches', async () => {
    h = await harness.start();
    const waiter = task({
      name: 'durable.wait',
      input: z.object({ orderId: z.string(), timeoutMs: z.number() }),
      run: async ({ orderId, timeoutMs }, ctx) => {
        const paid = await ctx.waitFor('payment.received', { timeoutMs, filter: { orderId } });
        return paid ? { paid: paid.payload, eventId: paid.id } : { timedOut: true };
      },
    });
    await h.addWorker('durable', { tasks: [waiter] });
    const one = await h.client.enqueue({
      task: 'durable.wait',
      input: { orderId: 'o-1', timeoutMs: 60_000 },
    });
    const two = await h.client.enqueue({
      task: 'durable.wait',
      input: { orderId: 'o-2', timeoutMs: 60_000 },
    });
    for (const r of [one, two]) {
      const waiting = await until(async () => {
        const v = await h.client.getRun(r.id);
        return v.state === 'QUEUED' && v.attempt === 1 ? v : undefined;
      }, 'the run to wait');
      expect(waiting.waitingFor).toMatch(/^the event payment\.received \(wait "wait:1" times out at /);
    }
    await h.client.publish({ name: 'payment.received', id: 'pay-2', payload: { orderId: 'o-2', amount: 5 } });
    const woken = await h.client.waitRun(two.id, { timeoutMs: 10_000 });
    expect(woken).toMatchObject({
      state: 'COMPLETED',
      output: { paid: { orderId: 'o-2', amount: 5 }, eventId: 'pay-2' },
    });
    // The other filter did not match: still waiting. A publish of the same id again wakes nothing more.
    await h.client.publish({ name: 'payment.received', id: 'pay-2', payload: { orderId: 'o-1' } });
    expect((await h.client.getRun(one.id)).state).toBe('QUEUED');
    await h.client.publish({ name: 'payment.received', id: 'pay-1', payload: { orderId: 'o-1', amount: 7 } });
    expect((await h.client.waitRun(one.id, { timeoutMs: 10_000 })).output).toMatchObject({
      eventId: 'pay-1',
    });

    const late = await h.client.enqueue({ task: 'durable.wait', input: { orderId: 'o-3', timeoutMs: 300 } });
    const timedOut = await h.client.waitRun(late.id, { timeoutMs: 10_000 });
    expect(timedOut).toMatchObject({ state: 'COMPLETED', output: { timedOut: true } });
    // An event after the timeout changes nothing.
    await h.client.publish({ name: 'payment.received', payload: { orderId: 'o-3' } });
    expect((await h.client.getRun(late.id)).output).toEqual({ timedOut: true });
  });

  it('resumes a run whose worker died between two steps on another worker, from the last recorded step', async () => {
    h = await harness.start();
    const calls = { first: 0, second: 0 };
    const between = gate();
    const resumable = task({
      name: 'durable.resumable',
      input: z.unknown(),
      run: async (_input, ctx) => {
        const a = await ctx.step('first', () => {
          calls.first++;
          return 'one';
        });
        if (calls.second === 0 && calls.first === 1 && ctx.attempt === 1) {
          between.open();
          await new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
          );
        }
        const b = await ctx.step('second', () => {
          calls.second++;
          return 'two';
        });
        return [a, b];
      },
    });
    const first = await h.addWorker('first', { tasks: [resumable] });
    const run = await h.client.enqueue({ task: 'durable.resumable', input: {} });
    await between.opened;
    await until(async () => (await h.client.getRun(run.id)).journal?.first, 'the first step to be recorded');
    await first.kill();
    const second = await h.addWorker('second', { tasks: [resumable] });
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: ['one', 'two'] });
    expect(done.workerId).toBe(second.id);
    expect(calls).toEqual({ first: 1, second: 1 });
  });

  it('takes its rate limit units once per try: not on the pushes that resume it, again on a retry after a failure', async () => {
    h = await harness.start();
    let failed = false;
    const limited = task({
      name: 'durable.limited',
      input: z.object({}),
      retries: 1,
      rateLimits: [{ key: 'durable-api', limit: 100, per: 'day' }],
      run: async (_input, ctx) => {
        await ctx.sleep(50);
        await ctx.sleep(50);
        if (!failed) {
          failed = true;
          throw new Error('fails once after both sleeps');
        }
        return 'done';
      },
    });
    await h.addWorker('durable', { tasks: [limited] });
    const run = await h.client.enqueue({ task: 'durable.limited', input: {} });
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', failures: 1, attempt: 4 });
    expect((await h.client.getRun(run.id)).attempts.map((a) => a.outcome)).toEqual([
      'suspended',
      'suspended',
      'failed',
      'completed',
    ]);
    // Four pushes in two tries: the first try's three pushes took one unit, the retry one more.
    const [limit] = await h.client.rateLimits();
    expect(limit).toMatchObject({ key: 'durable-api', window: { used: 2 } });
  });

  it('fails a run whose step would grow its journal past the limit as JournalTooLarge, rather than leave it undeliverable', async () => {
    h = await harness.start();
    const recorded: string[] = [];
    const hoarder = task({
      name: 'durable.hoarder',
      input: z.object({}),
      retries: 3,
      run: async (_input, ctx) => {
        // Three steps of 400 KB would make the push after the sleep larger than the worker takes.
        for (const n of [1, 2, 3]) {
          await ctx.step(`chunk-${n}`, () => 'x'.repeat(400_000));
          recorded.push(`chunk-${n}`);
        }
        await ctx.sleep(10);
        return 'never';
      },
    });
    await h.addWorker('durable', { tasks: [hoarder] });
    const run = await h.client.enqueue({ task: 'durable.hoarder', input: {} });
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'FAILED', attempt: 1 });
    expect(done.error).toMatchObject({ name: 'JournalTooLarge', retryable: false });
    expect(done.error?.message).toMatch(
      /step "chunk-2" would grow the run's journal to \d+ bytes, over its limit of 524288/,
    );
    expect(recorded).toEqual(['chunk-1']);
    expect(Object.keys((await h.client.getRun(run.id)).journal ?? {})).toEqual(['chunk-1']);
  });

  it('refuses, on the engine too, a step event that would grow the journal past the limit', async () => {
    h = await harness.start();
    const held = gate();
    const holder = task({
      name: 'durable.holder',
      input: z.object({}),
      run: () => held.opened,
    });
    const worker = await h.addWorker('durable', { tasks: [holder] });
    const run = await h.client.enqueue({ task: 'durable.holder', input: {} });
    await until(() => worker.started.some((s) => s.runId === run.id), 'the run to start');
    // A worker that does not check the journal's size itself: the engine stops the step that does not fit.
    const step = (name: string) => ({
      runId: run.id,
      attempt: 1,
      type: 'step' as const,
      at: new Date().toISOString(),
      name,
      output: 'y'.repeat(300_000),
    });
    const answer = await h.asWorker(worker.token).events([step('a'), step('a'), step('b')]);
    expect(answer).toMatchObject({ status: 200, body: { results: ['ok', 'ok', 'stale'] } });
    const failed = await h.client.getRun(run.id);
    expect(failed).toMatchObject({ state: 'FAILED', error: { name: 'JournalTooLarge', retryable: false } });
    expect(Object.keys(failed.journal ?? {})).toEqual(['a']);
    held.open();
  });

  it('suspends in a sync worker\u2019s answer as well', async () => {
    h = await harness.start();
    const { calls, durable } = counted();
    await h.addWorker('sync', { tasks: [durable], mode: 'sync' });
    const run = await h.client.enqueue({ task: 'durable.two-steps', input: { n: 1, sleepMs: 200 } });
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: { a: 2, b: 4 } });
    expect(calls).toEqual({ first: 1, second: 1 });
    expect((await h.client.getRun(run.id)).attempts.map((a) => a.outcome)).toEqual([
      'suspended',
      'completed',
    ]);
  });
});
