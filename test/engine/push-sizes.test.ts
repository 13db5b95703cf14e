// Pushes fit the worker's body limit: a claim's runs are cut into as many pushes as that calls for, and a run
// whose assignment alone is over it fails at once, named, instead of being pushed to a refusal again and again.
import { describe, expect, it } from 'vitest';
import { cutPushes, pushLimitOf } from '../../src/engine/push-batches.ts';
import type { Assignment } from '../../src/protocol/schemas.ts';
import { harnessPerTest, job, metricSum, until } from '../support/engine.ts';

const harness = harnessPerTest();
const KiB = 1024;

function assignment(runId: string, bytes: number): Assignment {
  return { runId, attempt: 1, task: 'echo', input: { message: 'x'.repeat(bytes) }, slotCost: 1 };
}

describe('cutting a claim into pushes', () => {
  it('keeps the order, fills each push up to the limit and no further, and sets apart what cannot fit alone', () => {
    const assignments = [
      assignment('a', 600),
      assignment('b', 300),
      assignment('c', 5_000),
      assignment('d', 300),
    ];
    const limit = 1_000;
    const cut = cutPushes(assignments, limit);
    expect(cut.oversized.map((o) => assignments[o.index]!.runId)).toEqual(['c']);
    expect(cut.oversized[0]!.bytes).toBeGreaterThan(limit);
    expect(cut.pushes.map((p) => p.indexes)).toEqual([[0], [1, 3]]);
    for (const push of cut.pushes) {
      expect(Buffer.byteLength(push.body)).toBeLessThanOrEqual(limit);
      expect(JSON.parse(push.body)).toEqual({ v: 1, assignments: push.indexes.map((i) => assignments[i]) });
    }
  });

  it('puts a push of exactly the limit in one body', () => {
    const two = [assignment('a', 100), assignment('b', 100)];
    const exact = Buffer.byteLength(JSON.stringify({ v: 1, assignments: two }));
    expect(cutPushes(two, exact).pushes.map((p) => p.indexes)).toEqual([[0, 1]]);
    expect(cutPushes(two, exact - 1).pushes.map((p) => p.indexes)).toEqual([[0], [1]]);
  });

  it('takes the default worker limit (1 MiB) when the worker announced none', () => {
    const limit = pushLimitOf({ maxBodyBytes: null });
    expect(limit).toBe(1024 * KiB);
    const cut = cutPushes([assignment('a', 600 * KiB), assignment('b', 600 * KiB)], limit);
    expect(cut.pushes.map((p) => p.indexes)).toEqual([[0], [1]]);
  });
});

describe('pushes to a worker with a small body limit', () => {
  it('delivers a claim larger than the limit in several pushes, each within it', async () => {
    const h = await harness.start({ maxDeliveries: 1 });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      ids.push((await h.client.enqueue({ task: 'echo', input: { message: 'x'.repeat(20 * KiB) } })).id);
    await h.addWorker('small-bodies', { maxBodyBytes: 64 * KiB, slots: 10 });
    for (const id of ids) {
      const run = await until(async () => {
        const r = await h.client.getRun(id);
        return r.state !== 'QUEUED' && r.state !== 'ASSIGNED' && r.state !== 'RUNNING' && r;
      }, `run ${id} to end`);
      expect({ id, state: run.state, error: run.error }).toEqual({
        id,
        state: 'COMPLETED',
        error: undefined,
      });
    }
    const pushes = metricSum(await (await fetch(`${h.url}/metrics`)).text(), 'pushworker_pushes_total');
    // three 20 KiB inputs fit a 64 KiB push: ten runs take at least four pushes
    expect(pushes).toBeGreaterThanOrEqual(4);
  });

  it('fails a run whose assignment alone is over the limit, not retried, and runs the others', async () => {
    const h = await harness.start();
    const big = await h.client.enqueue({ task: 'echo', input: { message: 'x'.repeat(100 * KiB) } });
    const small = await h.client.enqueue({ task: 'echo', input: { message: 'small' } });
    const worker = await h.addWorker('small-bodies', {
      maxBodyBytes: 64 * KiB,
      slots: 10,
      tasks: [job('echo', (input) => input, { retries: 3 })],
    });
    const failed = await until(async () => {
      const r = await h.client.getRun(big.id);
      return r.state === 'FAILED' && r;
    }, 'the oversized run to fail');
    expect(failed.error?.name).toBe('AssignmentTooLarge');
    expect(failed.error?.message).toMatch(
      new RegExp(`over the body limit of ${64 * KiB} bytes of worker "small-bodies"`),
    );
    expect(failed.attempt).toBe(1);
    await until(async () => (await h.client.getRun(small.id)).state === 'COMPLETED', 'the small run');
    expect(worker.started.map((s) => s.runId)).toEqual([small.id]);
  });
});
