// A place freed under a concurrency limit, or a run coming due, starts the next run at once: never the poll's work.
import { describe, expect, it } from 'vitest';
import { type Harness, harnessPerTest, job, sleep, until, untilStopped } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

let h: Harness;

/** So far off that any run these tests wait for could only start by a wake-up, never by a poll. */
const POLL_MS = 60_000;
/** Every test's runs finish within a third of a poll: a poll-bound dispatch could not. */
const WITHIN_MS = POLL_MS / 3;

describe.each(storeTargets('pw_freed_places'))('a freed place on $name', ({ open }) => {
  const harness = harnessPerTest(open);

  it('starts the next run of a concurrency key when one finishes, without waiting for a poll', async () => {
    h = await harness.start({ pollIntervalMs: POLL_MS });
    let running = 0;
    let peak = 0;
    const nap = job('nap', async (_input, ctx) => {
      peak = Math.max(peak, ++running);
      try {
        await sleep(300, ctx.signal);
      } finally {
        running--;
      }
    });
    await h.addWorker('w', { slots: 8, tasks: [nap] });
    const started = Date.now();
    const runs = await h.client.enqueueMany(
      Array.from({ length: 12 }, (_, i) => ({ task: 'nap', input: i, concurrency: { key: 'k', limit: 2 } })),
    );
    // Six waves of two: poll-bound, each wave after the first would wait for a poll (five of them).
    for (const r of runs) {
      const left = WITHIN_MS - (Date.now() - started);
      expect((await h.client.waitRun(r.id, { timeoutMs: Math.max(0, left) })).state).toBe('COMPLETED');
    }
    expect(Date.now() - started).toBeLessThan(WITHIN_MS);
    expect(peak).toBe(2);
  });

  it('starts the next run of a concurrency key when the one holding its place is cancelled', async () => {
    h = await harness.start({ pollIntervalMs: POLL_MS });
    const hold = job('hold', untilStopped);
    await h.addWorker('w', { slots: 4, tasks: [hold, job('echo', (input) => input)] });
    const concurrency = { key: 'one', limit: 1 };
    const first = await h.client.enqueue({ task: 'hold', concurrency });
    const second = await h.client.enqueue({ task: 'echo', input: 2, concurrency });
    await until(async () => (await h.client.getRun(first.id)).state === 'RUNNING', 'the first run to start');
    expect((await h.client.getRun(second.id)).state).toBe('QUEUED');
    const started = Date.now();
    await h.client.cancel(first.id);
    expect((await h.client.waitRun(second.id, { timeoutMs: WITHIN_MS })).state).toBe('COMPLETED');
    expect(Date.now() - started).toBeLessThan(WITHIN_MS);
  });

  it('starts a retry when its back-off ends, without waiting for a poll', async () => {
    h = await harness.start({ pollIntervalMs: POLL_MS, retryBaseMs: 400, retryMaxMs: 400 });
    const once = job(
      'once',
      (_input, ctx) => {
        if (ctx.attempt === 1) throw new Error('first attempt fails');
        return ctx.attempt;
      },
      { retries: 1 },
    );
    await h.addWorker('w', { tasks: [once] });
    const started = Date.now();
    const run = await h.client.enqueue({ task: 'once' });
    const done = await h.client.waitRun(run.id, { timeoutMs: WITHIN_MS });
    expect(done).toMatchObject({ state: 'COMPLETED', attempt: 2, output: 2 });
    expect(Date.now() - started).toBeLessThan(WITHIN_MS);
  });
});
