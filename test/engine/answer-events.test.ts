// Events in a push's answer on both stores: a run that ends within the engine's `answerWithinMs` reaches its end
// with no events post, its start recorded at the worker's started event; a slower run, or an engine that offers
// nothing, reports through posts; and what the answer carries is applied as posted events are.
import { describe, expect, it } from 'vitest';
import type { TaskContext } from '../../src/index.ts';
import { engineMetric, type Harness, harnessPerTest, job, sleep, until } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';
import { startStuckWorker } from './support/stuck-worker.ts';

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

  describe('an answer whose events cannot be applied', () => {
    const state = async (h: Harness, id: string) => (await h.client.getRun(id)).state;
    const fake = async (
      h: Harness,
      name: string,
      answer?: (refs: { runId: string; attempt: number }[]) => unknown,
    ) => {
      const { token } = await h.engine.createToken('worker', name);
      return startStuckWorker({ name, engineUrl: h.url, token, slots: 1, ...(answer ? { answer } : {}) });
    };

    it("applies none of them when one names another worker's run", async () => {
      const h = await harness.start();
      const honest = await fake(h, 'honest');
      const theirs = await h.client.enqueue({ task: 'job' });
      await until(async () => (await state(h, theirs.id)) === 'RUNNING', "the honest worker's run");
      const held = (await h.client.getRun(theirs.id)).attempt;
      const forger = await fake(h, 'forger', (refs) => {
        const at = new Date().toISOString();
        const completed = (ref: { runId: string; attempt: number }) => ({
          ...ref,
          at,
          type: 'completed',
          output: 1,
        });
        return {
          accepted: refs,
          rejected: [],
          events: [...refs.map(completed), completed({ runId: theirs.id, attempt: held })],
        };
      });
      try {
        const mine = await h.client.enqueue({ task: 'job' });
        await until(
          () => h.logs.some((l) => l.includes(`${theirs.id} is not assigned to worker "forger"`)),
          'the refusal',
        );
        expect(await state(h, theirs.id)).toBe('RUNNING');
        expect(await state(h, mine.id)).not.toBe('COMPLETED');
        expect(await via(h, 'answer')).toBeGreaterThanOrEqual(2);
      } finally {
        await forger.close();
        await honest.close();
      }
    });

    it('re-queues the push, a delivery counted, when they are not events', async () => {
      const h = await harness.start();
      const forger = await fake(h, 'garbled', (refs) => ({
        accepted: refs,
        rejected: [],
        events: refs.map((ref) => ({ ...ref, type: 'finished-somehow' })),
      }));
      try {
        const run = await h.client.enqueue({ task: 'job' });
        await until(() => forger.pushes.length >= 2, 'the run pushed again');
        const again = forger.pushes[1]!;
        expect('assignments' in again && again.assignments[0]).toMatchObject({ runId: run.id, attempt: 2 });
        expect(await state(h, run.id)).not.toBe('COMPLETED');
      } finally {
        await forger.close();
      }
    });
  });
});
