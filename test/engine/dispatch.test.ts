import { describe, expect, it } from 'vitest';
import {
  echo,
  engineMetric,
  gate,
  type Harness,
  type HarnessWorker,
  harnessPerTest,
  job,
  metricSum,
  sleep,
  until,
} from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

let h: Harness;

const noSlotRefusals = (w: HarnessWorker) =>
  metricSum(w.worker.metrics.render(), 'pushworker_assignments_rejected_total{reason="no_slot"}');

describe.each(storeTargets('pw_dispatch_suite'))('dispatching runs to workers on $name', ({ open }) => {
  const harness = harnessPerTest(open);

  it('pushes a queued run to a registered worker and records its result', async () => {
    h = await harness.start();
    const worker = await h.addWorker('w1');
    const run = await h.client.enqueue({ task: 'echo', input: { message: 'hi' } });
    expect(run.state).toBe('QUEUED');
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.output).toEqual({ message: 'hi' });
    expect(done.attempt).toBe(1);
    expect(done.workerId).toBe(worker.id);
    expect(worker.started).toEqual([{ runId: run.id, attempt: 1 }]);
  });

  it('queues runs for a task nobody serves until a worker registers it', async () => {
    h = await harness.start();
    const run = await h.client.enqueue({ task: 'echo', input: 1 });
    expect((await h.client.waitRun(run.id, { timeoutMs: 300 })).state).toBe('QUEUED');
    await h.addWorker('late');
    expect((await h.client.waitRun(run.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
  });

  it('spreads runs across workers and never gives a worker more than its slots', async () => {
    h = await harness.start();
    let peak = 0;
    // Each worker's task reads that worker's own count of slots in use, the run itself included.
    const work = (on: () => HarnessWorker) =>
      job('work', async (input, ctx) => {
        peak = Math.max(peak, on().worker.health().slots.used);
        await sleep(30, ctx.signal);
        return input;
      });
    const a: HarnessWorker = await h.addWorker('a', { slots: 2, tasks: [work(() => a)] });
    const b: HarnessWorker = await h.addWorker('b', { slots: 2, tasks: [work(() => b)] });
    const runs = await h.client.enqueueMany(
      Array.from({ length: 20 }, (_, i) => ({ task: 'work', input: i })),
    );
    for (const r of runs)
      expect((await h.client.waitRun(r.id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
    expect(peak).toBeLessThanOrEqual(2);
    // A worker refuses what does not fit, so the engine's own count is shown by no refusal at all.
    expect(noSlotRefusals(a) + noSlotRefusals(b)).toBe(0);
    expect(a.started.length).toBeGreaterThan(0);
    expect(b.started.length).toBeGreaterThan(0);
    expect(a.started.length + b.started.length).toBe(20);
  });

  it('batches a backlog into pushes of several assignments', async () => {
    h = await harness.start();
    await h.client.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ task: 'echo', input: i })));
    const worker = await h.addWorker('batcher', { slots: 50 });
    await until(() => worker.started.length === 30, 'all runs started');
    // Thirty assignments, each pushed once, in fewer pushes: some push carried several.
    expect(await engineMetric(h, 'pushworker_pushes_total{status="202"}')).toBeLessThan(30);
    expect(await engineMetric(h, 'pushworker_pushes_total')).toBeLessThan(30);
  });

  it('re-queues a run the worker refuses with no_slot without spending an attempt', async () => {
    h = await harness.start();
    // A cancelled run holds its slot on the worker until its task function returns, and this one ignores its
    // signal: the engine counts the slot free, the worker does not.
    const held = gate();
    const worker = await h.addWorker('full', { slots: 1, tasks: [echo, job('hold', () => held.opened)] });
    const holder = await h.client.enqueue({ task: 'hold' });
    await until(() => worker.started.length === 1, 'the holder to start');
    expect((await h.client.cancel(holder.id)).state).toBe('CANCELLED');
    await until(() => worker.aborted.length === 1, 'the cancel to reach the worker');
    const run = await h.client.enqueue({ task: 'echo', input: 'x' });
    await until(() => noSlotRefusals(worker) >= 1, 'a push refused with no_slot');
    await until(async () => (await h.client.getRun(run.id)).state === 'QUEUED', 're-queue');
    held.open();
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.failures).toBe(0);
    const row = (await harness.sql.query('SELECT deliveries FROM pw_runs WHERE id = $1', [run.id]))[0]!;
    expect(row.deliveries).toBe(1);
  });

  it('gives up on a push left unanswered past pushTimeoutMs and delivers the run again', async () => {
    h = await harness.start({ pushTimeoutMs: 300 });
    let calls = 0;
    // A sync worker answers when its tasks end: the first run outlasts the push timeout.
    const slowOnce = job('slowOnce', async (input, ctx) => {
      if (++calls === 1) await sleep(3_000, ctx.signal);
      return input;
    });
    await h.addWorker('sync', { mode: 'sync', tasks: [slowOnce] });
    const run = await h.client.enqueue({ task: 'slowOnce', input: 'x' });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.attempt).toBe(2);
    const row = (await harness.sql.query('SELECT deliveries FROM pw_runs WHERE id = $1', [run.id]))[0]!;
    expect(row.deliveries).toBe(2);
  });

  it('runs higher priority first and FIFO within a priority', async () => {
    h = await harness.start();
    const low = await h.client.enqueue({ task: 'echo', input: 'low' });
    const first = await h.client.enqueue({ task: 'echo', input: 'high-1', priority: 5 });
    const second = await h.client.enqueue({ task: 'echo', input: 'high-2', priority: 5 });
    const worker = await h.addWorker('serial', { slots: 1 });
    await until(() => worker.started.length === 3, 'three runs');
    expect(worker.started.map((s) => s.runId)).toEqual([first.id, second.id, low.id]);
  });

  it('returns the existing run for a repeated idempotency key', async () => {
    h = await harness.start();
    const one = await h.client.enqueue({ task: 'echo', input: 1, idempotencyKey: 'order-7' });
    const two = await h.client.enqueue({ task: 'echo', input: 2, idempotencyKey: 'order-7' });
    expect(one.created).toBe(true);
    expect(two.created).toBe(false);
    expect(two.id).toBe(one.id);
    const bulk = await h.client.enqueueMany([
      { task: 'echo', idempotencyKey: 'order-7' },
      { task: 'echo', idempotencyKey: 'order-8' },
    ]);
    expect(bulk.map((r) => [r.id === one.id, r.created])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it('keeps a PAUSED worker out of dispatch until it is resumed', async () => {
    h = await harness.start();
    const worker = await h.addWorker('pausable');
    const paused = await h.client.pauseWorker(worker.id!);
    expect(paused.state).toBe('PAUSED');
    const run = await h.client.enqueue({ task: 'echo', input: 1 });
    expect((await h.client.waitRun(run.id, { timeoutMs: 400 })).state).toBe('QUEUED');
    expect((await h.client.resumeWorker(worker.id!)).state).toBe('ACTIVE');
    expect((await h.client.waitRun(run.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
  });
});
