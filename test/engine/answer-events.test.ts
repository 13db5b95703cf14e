// Events in a push's answer on both stores: a run that ends within the engine's `answerWithinMs` reaches its end
// with no events post, its start recorded at the worker's started event; a slower run, or an engine that offers
// nothing, reports through posts; and what the answer carries is applied as posted events are.
import { describe, expect, it } from 'vitest';
import type { TaskContext } from '../../src/index.ts';
import { engineMetric, type Harness, harnessPerTest, job, sleep } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

const quick = job('quick', (input, ctx: TaskContext) => {
  ctx.log.info('quick ran', { input });
  return { echoed: input };
});
const slow = job('slow', async (_input, ctx: TaskContext) => {
  await sleep(400, ctx.signal);
  return 'slept';
});

const via = (h: Harness, how: 'post' | 'answer') =>
  engineMetric(h, `pushworker_worker_events_total{via="${how}"}`);

describe.each(storeTargets('pw_answer_events'))('events in the answer on $name', ({ open }) => {
  const harness = harnessPerTest(open);

  const finish = async (h: Harness, task: string, input: unknown) => {
    const run = await h.client.enqueue({ task, input });
    return h.client.waitRun(run.id, { timeoutMs: 20_000 });
  };

  it('ends a quick run from its push answer alone: no events post, the start and log line kept', async () => {
    const h = await harness.start();
    await h.addWorker('w', { tasks: [quick] });
    const done = await finish(h, 'quick', { n: 1 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: { echoed: { n: 1 } } });
    const started = Date.parse(done.startedAt!);
    expect(started).toBeGreaterThanOrEqual(Date.parse(done.createdAt));
    expect(started).toBeLessThanOrEqual(Date.parse(done.finishedAt!));
    // started, log and completed
    expect(await via(h, 'answer')).toBe(3);
    expect(await via(h, 'post')).toBe(0);
    const logs = await h.client.getRunLogs(done.id);
    expect(logs.map((l) => l.message)).toEqual(['quick ran']);
  });

  it('posts the events of a run that outlasts the window', async () => {
    const h = await harness.start();
    await h.addWorker('w', { tasks: [slow] });
    expect(await finish(h, 'slow', null)).toMatchObject({ state: 'COMPLETED', output: 'slept' });
    expect(await via(h, 'answer')).toBe(0);
    expect(await via(h, 'post')).toBeGreaterThanOrEqual(2);
  });

  it('has every event posted when it offers no window', async () => {
    const h = await harness.start({ answerWithinMs: 0 });
    await h.addWorker('w', { tasks: [quick] });
    expect(await finish(h, 'quick', { n: 2 })).toMatchObject({ state: 'COMPLETED' });
    expect(await via(h, 'answer')).toBe(0);
    expect(await via(h, 'post')).toBe(3);
  });
});
