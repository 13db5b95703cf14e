import { describe, expect, it } from 'vitest';
import { type Harness, harnessPerTest, until } from './support/harness.ts';
import { storeTargets } from './support/postgres.ts';

let h: Harness;

const never = () => new Promise<never>(() => {});

describe.each(storeTargets('pw_reliability_suite'))('retries, leases and lifecycle on $name', ({ open }) => {
  const harness = harnessPerTest(open);

  it('retries a retryable failure up to the task retries, then fails', async () => {
    h = await harness.start();
    const worker = await h.addWorker({ name: 'w', taskOptions: { fail: { retries: 2 } } });
    const run = await h.client.enqueue({ task: 'fail', input: { message: 'boom' } });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('FAILED');
    expect(done.attempt).toBe(3);
    expect(done.failures).toBe(3);
    expect(done.error).toMatchObject({ message: 'boom', retryable: true });
    expect(worker.started.map((s) => s.attempt)).toEqual([1, 2, 3]);
  });

  it('lets a retry succeed and honours a per-run retries override', async () => {
    h = await harness.start();
    let calls = 0;
    await h.addWorker({
      name: 'w',
      tasks: {
        flaky: async () => {
          calls++;
          if (calls < 2) throw new Error('first time fails');
          return 'ok';
        },
      },
    });
    const run = await h.client.enqueue({ task: 'flaky', retries: 1 });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: 'ok', attempt: 2, failures: 1 });
  });

  it('treats a failure with retryable false as final', async () => {
    h = await harness.start();
    const worker = await h.addWorker({ name: 'w', taskOptions: { fail: { retries: 5 } } });
    const run = await h.client.enqueue({ task: 'fail', input: { message: 'bad input', retryable: false } });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'FAILED', attempt: 1 });
    expect(done.error).toMatchObject({ name: 'NonRetryableError', retryable: false });
    expect(worker.started).toHaveLength(1);
  });

  it('re-queues a run whose worker dies and completes it on another worker after the lease', async () => {
    h = await harness.start();
    const doomed = await h.addWorker({ name: 'doomed', tasks: { job: never } });
    const run = await h.client.enqueue({ task: 'job', input: 1 });
    await until(() => doomed.started.length === 1, 'the first attempt');
    await doomed.kill();
    await h.addWorker({ name: 'rescuer', tasks: { job: async () => 'rescued' } });
    const done = await h.client.waitRun(run.id, { timeoutMs: 15_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: 'rescued', attempt: 2, failures: 0 });
    const workers = await h.client.listWorkers();
    expect(workers.find((w) => w.name === 'doomed')?.state).toBe('INACTIVE');
  });

  it('answers stale to a superseded attempt and counts only the first terminal event', async () => {
    h = await harness.start();
    const gate: { release?: () => void } = {};
    const worker = await h.addWorker({
      name: 'w',
      register: true,
      tasks: { job: () => new Promise((resolve) => (gate.release = () => resolve('late'))) },
    });
    const run = await h.client.enqueue({ task: 'job' });
    await until(() => worker.started.length === 1, 'started');
    const at = new Date().toISOString();
    const first = await worker.postEvents([
      { runId: run.id, attempt: 1, at, type: 'completed', output: 'first' },
      { runId: run.id, attempt: 1, at, type: 'completed', output: 'second' },
      {
        runId: run.id,
        attempt: 1,
        at,
        type: 'failed',
        error: { message: 'x', name: 'Error', retryable: true },
      },
      { runId: run.id, attempt: 7, at, type: 'heartbeat' },
    ]);
    expect(first).toEqual({ status: 200, body: { results: ['ok', 'ok', 'ok', 'stale'] } });
    const view = await h.client.getRun(run.id);
    expect(view).toMatchObject({ state: 'COMPLETED', output: 'first', failures: 0 });
    gate.release?.();
  });

  it('refuses events about a run assigned to another worker', async () => {
    h = await harness.start();
    const owner = await h.addWorker({ name: 'owner', tasks: { job: never } });
    const intruder = await h.addWorker({ name: 'intruder', tasks: {} });
    const run = await h.client.enqueue({ task: 'job' });
    await until(() => owner.started.length === 1, 'started');
    const at = new Date().toISOString();
    const answer = await intruder.postEvents([
      { runId: run.id, attempt: 1, at, type: 'completed', output: 'forged' },
    ]);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: { code: 'forbidden' } });
    expect((await h.client.getRun(run.id)).state).toBe('RUNNING');
  });

  it('cancels a running run and pushes the cancellation to its worker', async () => {
    h = await harness.start();
    const worker = await h.addWorker({ name: 'w' });
    const run = await h.client.enqueue({ task: 'sleep', input: { ms: 60_000 } });
    await until(() => worker.started.length === 1, 'started');
    const cancelled = await h.client.cancel(run.id);
    expect(cancelled.state).toBe('CANCELLED');
    await until(
      () => worker.pushes.some((p) => 'cancel' in p && p.cancel[0]?.runId === run.id),
      'cancel push',
    );
    await until(() => worker.used === 0, 'the slot to be freed');
    expect((await h.client.getRun(run.id)).state).toBe('CANCELLED');
    // Paused first, so that the run is still queued when it is cancelled.
    await h.client.pauseWorker(worker.workerId!);
    const queued = await h.client.enqueue({ task: 'sleep', input: { ms: 1 } });
    expect((await h.client.cancel(queued.id)).state).toBe('CANCELLED');
    expect(worker.pushes.some((p) => 'assignments' in p && p.assignments[0]?.runId === queued.id)).toBe(
      false,
    );
  });

  it('fails an attempt past its execution timeout and stops it on the worker', async () => {
    h = await harness.start();
    const worker = await h.addWorker({ name: 'w', tasks: { job: never } });
    const run = await h.client.enqueue({ task: 'job', timeoutMs: 300 });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'FAILED', error: { name: 'TimeoutError' } });
    await until(() => worker.pushes.some((p) => 'cancel' in p), 'a cancel push');
  });

  it('extends the deadline when the worker refreshes the timeout', async () => {
    h = await harness.start();
    await h.addWorker({
      name: 'w',
      tasks: {
        job: async (_input, ctx) => {
          await ctx.emit({ type: 'timeout_refreshed', incrementMs: 5_000 } as never);
          await new Promise((r) => setTimeout(r, 800));
          return 'in time';
        },
      },
    });
    const run = await h.client.enqueue({ task: 'job', timeoutMs: 300 });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: 'in time' });
  });

  it('starts a second run when the first releases its slot manually', async () => {
    h = await harness.start();
    const gate: { release?: () => void } = {};
    const worker = await h.addWorker({
      name: 'w',
      slots: 1,
      tasks: {
        holder: async (_input, ctx) => {
          await ctx.emit({ type: 'slot_released' } as never);
          await new Promise<void>((resolve) => (gate.release = resolve));
          return 'held';
        },
        quick: async () => 'quick',
      },
    });
    const first = await h.client.enqueue({ task: 'holder' });
    await until(() => worker.started.length === 1, 'the first run');
    const second = await h.client.enqueue({ task: 'quick' });
    expect((await h.client.waitRun(second.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    expect((await h.client.getRun(first.id)).state).toBe('RUNNING');
    gate.release?.();
    expect((await h.client.waitRun(first.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
  });

  it('sends nothing new to a STOPPED worker and lets its runs finish', async () => {
    h = await harness.start();
    const gate: { release?: () => void } = {};
    const worker = await h.addWorker({
      name: 'w',
      heartbeatMs: 60_000,
      tasks: { job: () => new Promise((resolve) => (gate.release = () => resolve('drained'))) },
    });
    const running = await h.client.enqueue({ task: 'job' });
    await until(() => worker.started.length === 1, 'started');
    expect(await worker.beat('STOPPED')).toBe(200);
    const later = await h.client.enqueue({ task: 'job' });
    gate.release?.();
    expect((await h.client.waitRun(running.id, { timeoutMs: 10_000 })).output).toBe('drained');
    expect((await h.client.waitRun(later.id, { timeoutMs: 300 })).state).toBe('QUEUED');
    expect((await h.client.listWorkers())[0]?.state).toBe('STOPPED');
  });
});
