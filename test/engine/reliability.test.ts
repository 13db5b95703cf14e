import { describe, expect, it } from 'vitest';
import { fail, gate, type Harness, harnessPerTest, job, until, untilStopped } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';
import { startStuckWorker } from './support/stuck-worker.ts';

let h: Harness;

describe.each(storeTargets('pw_reliability_suite'))('retries, leases and lifecycle on $name', ({ open }) => {
  const harness = harnessPerTest(open);

  it('retries a retryable failure up to the task retries, then fails', async () => {
    h = await harness.start();
    const worker = await h.addWorker('w', { tasks: [{ ...fail, retries: 2 }] });
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
    const flaky = job('flaky', () => {
      calls++;
      if (calls < 2) throw new Error('first time fails');
      return 'ok';
    });
    await h.addWorker('w', { tasks: [flaky] });
    const run = await h.client.enqueue({ task: 'flaky', retries: 1 });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: 'ok', attempt: 2, failures: 1 });
  });

  it('treats a failure with retryable false as final', async () => {
    h = await harness.start();
    const worker = await h.addWorker('w', { tasks: [{ ...fail, retries: 5 }] });
    const run = await h.client.enqueue({ task: 'fail', input: { message: 'bad input', retryable: false } });
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'FAILED', attempt: 1 });
    expect(done.error).toMatchObject({ name: 'NonRetryableError', retryable: false });
    expect(worker.started).toHaveLength(1);
  });

  it('re-queues a run whose worker dies and completes it on another worker after the lease', async () => {
    h = await harness.start();
    const doomed = await h.addWorker('doomed', { tasks: [job('job', untilStopped)] });
    const run = await h.client.enqueue({ task: 'job', input: 1 });
    // Killed once the engine knows the run started: before that, the push itself fails and re-queues it.
    await until(async () => (await h.client.getRun(run.id)).state === 'RUNNING', 'the first attempt');
    await doomed.kill();
    await h.addWorker('rescuer', { tasks: [job('job', () => 'rescued')] });
    const done = await h.client.waitRun(run.id, { timeoutMs: 15_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: 'rescued', attempt: 2, failures: 0 });
    const workers = await h.client.listWorkers();
    expect(workers.find((w) => w.name === 'doomed')?.state).toBe('INACTIVE');
  });

  it('answers stale to a superseded attempt and counts only the first terminal event', async () => {
    h = await harness.start();
    const finish = gate<string>();
    const worker = await h.addWorker('w', { tasks: [job('job', () => finish.opened)] });
    const run = await h.client.enqueue({ task: 'job' });
    await until(() => worker.started.length === 1, 'started');
    const at = new Date().toISOString();
    const first = await h.asWorker(worker.token).events([
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
    finish.open('late');
  });

  it('refuses events about a run assigned to another worker', async () => {
    h = await harness.start();
    await h.addWorker('owner', { tasks: [job('job', untilStopped)] });
    const intruder = await h.addWorker('intruder', { tasks: [] });
    const run = await h.client.enqueue({ task: 'job' });
    await until(async () => (await h.client.getRun(run.id)).state === 'RUNNING', 'running');
    const at = new Date().toISOString();
    const answer = await h
      .asWorker(intruder.token)
      .events([{ runId: run.id, attempt: 1, at, type: 'completed', output: 'forged' }]);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: { code: 'forbidden' } });
    expect((await h.client.getRun(run.id)).state).toBe('RUNNING');
  });

  it('cancels a running run and pushes the cancellation to its worker', async () => {
    // No heartbeats (whose answer, stale, would stop the run too): the worker hears of it only by the push.
    h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
    const worker = await h.addWorker('w', { heartbeatMs: 60_000 });
    const run = await h.client.enqueue({ task: 'sleep', input: { ms: 60_000 } });
    // Running as far as the engine knows: its started event, answered stale after a cancel, is in.
    await until(async () => (await h.client.getRun(run.id)).state === 'RUNNING', 'running');
    const cancelled = await h.client.cancel(run.id);
    expect(cancelled.state).toBe('CANCELLED');
    await until(
      () => worker.aborted.some((a) => a.runId === run.id && a.reason === 'Cancelled'),
      'the cancel push to stop the run on the worker',
      { detail: () => worker.aborted },
    );
    await until(() => worker.worker.health().slots.used === 0, 'the slot to be freed');
    expect((await h.client.getRun(run.id)).state).toBe('CANCELLED');
    // Paused first, so that the run is still queued when it is cancelled.
    await h.client.pauseWorker(worker.id!);
    const queued = await h.client.enqueue({ task: 'sleep', input: { ms: 1 } });
    expect((await h.client.cancel(queued.id)).state).toBe('CANCELLED');
    expect(worker.started.some((s) => s.runId === queued.id)).toBe(false);
  });

  it('fails an attempt past its execution timeout and stops it on the worker', async () => {
    h = await harness.start();
    const { token } = await h.engine.createToken('worker', 'stuck');
    const worker = await startStuckWorker({ name: 'stuck', engineUrl: h.url, token });
    try {
      const run = await h.client.enqueue({ task: 'job', timeoutMs: 300 });
      const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
      expect(done).toMatchObject({ state: 'FAILED', error: { name: 'TimeoutError' } });
      await until(
        () => worker.pushes.some((p) => 'cancel' in p && p.cancel.some((c) => c.runId === run.id)),
        'a cancel push',
      );
    } finally {
      await worker.close();
    }
  });

  it('extends the deadline when the worker refreshes the timeout', async () => {
    h = await harness.start();
    const finish = gate();
    const worker = await h.addWorker('w', {
      tasks: [
        job('job', async (_input, ctx) => {
          ctx.refreshTimeout(5_000);
          await finish.opened;
          return 'in time';
        }),
      ],
    });
    const run = await h.client.enqueue({ task: 'job', timeoutMs: 300 });
    await until(() => worker.started.length === 1, 'started');
    expect(await worker.worker.flush(5_000)).toBe(true);
    const [row] = await harness.sql.query<{ deadline_at: number }>(
      'SELECT deadline_at FROM pw_runs WHERE id = $1',
      [run.id],
    );
    const { startedAt } = await h.client.getRun(run.id);
    expect(row!.deadline_at - Date.parse(startedAt!)).toBeGreaterThanOrEqual(5_000);
    // Past the deadline the run had before the refresh, a sweep leaves it running.
    await until(() => Date.now() > row!.deadline_at - 5_000, 'the first deadline to pass');
    await h.engine.sweep();
    expect((await h.client.getRun(run.id)).state).toBe('RUNNING');
    finish.open();
    const done = await h.client.waitRun(run.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: 'in time' });
  });

  it('starts a second run when the first releases its slot manually', async () => {
    h = await harness.start();
    const finish = gate();
    const worker = await h.addWorker('w', {
      slots: 1,
      tasks: [
        job('holder', async (_input, ctx) => {
          ctx.releaseSlot();
          await finish.opened;
          return 'held';
        }),
        job('quick', () => 'quick'),
      ],
    });
    const first = await h.client.enqueue({ task: 'holder' });
    await until(() => worker.started.length === 1, 'the first run');
    const second = await h.client.enqueue({ task: 'quick' });
    expect((await h.client.waitRun(second.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    expect((await h.client.getRun(first.id)).state).toBe('RUNNING');
    finish.open();
    expect((await h.client.waitRun(first.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
  });

  it('sends nothing new to a STOPPED worker and lets its runs finish', async () => {
    h = await harness.start({ workerTimeoutMs: 60_000 });
    const finish = gate<string>();
    // Heartbeats of its own only every minute: the STOPPED one below stays the last word.
    const worker = await h.addWorker('w', { heartbeatMs: 60_000, tasks: [job('job', () => finish.opened)] });
    const running = await h.client.enqueue({ task: 'job' });
    await until(() => worker.started.length === 1, 'started');
    const heartbeat = h.asWorker(worker.token).heartbeat;
    expect(await heartbeat(worker.id!, 'STOPPED', worker.worker.health().slots)).toBe(200);
    const later = await h.client.enqueue({ task: 'job' });
    finish.open('drained');
    expect((await h.client.waitRun(running.id, { timeoutMs: 10_000 })).output).toBe('drained');
    expect((await h.client.waitRun(later.id, { timeoutMs: 300 })).state).toBe('QUEUED');
    expect((await h.client.listWorkers())[0]?.state).toBe('STOPPED');
  });
});
