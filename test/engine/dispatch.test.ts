import { describe, expect, it } from 'vitest';
import { type Harness, harnessPerTest, until } from './support/harness.ts';
import { storeTargets } from './support/postgres.ts';

let h: Harness;

describe.each(storeTargets('pw_dispatch_suite'))('dispatching runs to workers on $name', ({ open }) => {
  const harness = harnessPerTest(open);

  it('pushes a queued run to a registered worker and records its result', async () => {
    h = await harness.start();
    const worker = await h.addWorker({ name: 'w1' });
    const run = await h.client.enqueue({ task: 'echo', input: { message: 'hi' } });
    expect(run.state).toBe('QUEUED');
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.output).toEqual({ message: 'hi' });
    expect(done.attempt).toBe(1);
    expect(done.workerId).toBe(worker.workerId);
    expect(worker.started).toEqual([{ runId: run.id, attempt: 1 }]);
  });

  it('queues runs for a task nobody serves until a worker registers it', async () => {
    h = await harness.start();
    const run = await h.client.enqueue({ task: 'echo', input: 1 });
    expect((await h.client.waitRun(run.id, { timeoutMs: 300 })).state).toBe('QUEUED');
    await h.addWorker({ name: 'late' });
    expect((await h.client.waitRun(run.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
  });

  it('spreads runs across workers and never gives a worker more than its slots', async () => {
    h = await harness.start();
    let peak = 0;
    const track = (w: { used: number }) => async (input: unknown) => {
      peak = Math.max(peak, w.used);
      await new Promise((r) => setTimeout(r, 30));
      return input;
    };
    const a = await h.addWorker({ name: 'a', slots: 2, tasks: {} });
    const b = await h.addWorker({ name: 'b', slots: 2, tasks: {} });
    // Re-register with the tracking task now that the workers exist.
    for (const w of [a, b]) {
      (w as unknown as { o: { tasks: Record<string, unknown> } }).o.tasks = { work: track(w) };
      await w.registerSelf();
    }
    const runs = await h.client.enqueueMany(
      Array.from({ length: 20 }, (_, i) => ({ task: 'work', input: i })),
    );
    for (const r of runs)
      expect((await h.client.waitRun(r.id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
    expect(peak).toBeLessThanOrEqual(2);
    expect(a.started.length).toBeGreaterThan(0);
    expect(b.started.length).toBeGreaterThan(0);
    expect(a.started.length + b.started.length).toBe(20);
  });

  it('batches a backlog into pushes of several assignments', async () => {
    h = await harness.start();
    await h.client.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ task: 'echo', input: i })));
    const worker = await h.addWorker({ name: 'batcher', slots: 50 });
    await until(() => worker.started.length === 30, 'all runs started');
    const sizes = worker.pushes.map((p) => ('assignments' in p ? p.assignments.length : 0));
    expect(Math.max(...sizes)).toBeGreaterThan(1);
  });

  it('re-queues a run the worker refuses with no_slot without spending an attempt', async () => {
    h = await harness.start();
    const worker = await h.addWorker({ name: 'full', slots: 1 });
    worker.used = 1; // the worker believes its only slot is taken
    const run = await h.client.enqueue({ task: 'echo', input: 'x' });
    await until(() => worker.pushes.length >= 1, 'a push');
    await until(async () => (await h.client.getRun(run.id)).state === 'QUEUED', 're-queue');
    worker.used = 0;
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
    const slowOnce = async (input: unknown) => {
      if (++calls === 1) await new Promise((r) => setTimeout(r, 3_000));
      return input;
    };
    await h.addWorker({ name: 'sync', mode: 'sync', register: true, tasks: { slowOnce } });
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
    const worker = await h.addWorker({ name: 'serial', slots: 1 });
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
    const worker = await h.addWorker({ name: 'pausable' });
    const paused = await h.client.pauseWorker(worker.workerId!);
    expect(paused.state).toBe('PAUSED');
    const run = await h.client.enqueue({ task: 'echo', input: 1 });
    expect((await h.client.waitRun(run.id, { timeoutMs: 400 })).state).toBe('QUEUED');
    expect((await h.client.resumeWorker(worker.workerId!)).state).toBe('ACTIVE');
    expect((await h.client.waitRun(run.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
  });
});
