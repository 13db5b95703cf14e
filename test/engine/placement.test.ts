import { describe, expect, it } from 'vitest';
import {
  echo,
  gate,
  type Harness,
  type HarnessWorker,
  harnessPerTest,
  job,
  sleep,
  until,
} from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

let h: Harness;

const ranOn = (w: HarnessWorker, runId: string) => w.started.some((s) => s.runId === runId);

describe.each(storeTargets('pw_placement'))('placement on $name: affinity, stickiness, keys', ({ open }) => {
  const harness = harnessPerTest(open);

  it('sends a run only to workers with its required labels', async () => {
    h = await harness.start();
    const cpu = await h.addWorker('cpu', { labels: { gpu: 'no' } });
    const gpu = await h.addWorker('gpu', { labels: { gpu: 'yes', region: 'eu' } });
    const runs = await h.client.enqueueMany(
      Array.from({ length: 6 }, () => ({ task: 'echo', affinity: { required: { gpu: 'yes' } } })),
    );
    for (const r of runs)
      expect((await h.client.waitRun(r.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    expect(runs.every((r) => ranOn(gpu, r.id))).toBe(true);
    expect(cpu.started).toHaveLength(0);
  });

  it('prefers the worker with the heavier preferred labels while it has room', async () => {
    h = await harness.start();
    const other = await h.addWorker('other', { labels: { zone: 'b' } });
    const near = await h.addWorker('near', { labels: { zone: 'a' } });
    for (let i = 0; i < 5; i++) {
      const run = await h.client.enqueue({
        task: 'echo',
        affinity: { preferred: [{ labels: { zone: 'a' }, weight: 10 }] },
      });
      await h.client.waitRun(run.id, { timeoutMs: 10_000 });
      expect(ranOn(near, run.id)).toBe(true);
    }
    expect(other.started).toHaveLength(0);
  });

  it('keeps runs with one hard sticky key on one worker', async () => {
    h = await harness.start();
    const a = await h.addWorker('a');
    const b = await h.addWorker('b');
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const run = await h.client.enqueue({
        task: 'echo',
        input: i,
        sticky: { key: 'session-1', mode: 'hard' },
      });
      ids.push(run.id);
    }
    for (const id of ids) await h.client.waitRun(id, { timeoutMs: 10_000 });
    const onA = ids.filter((id) => ranOn(a, id)).length;
    const onB = ids.filter((id) => ranOn(b, id)).length;
    expect([onA, onB].sort()).toEqual([0, 8]);
  });

  it('moves a soft sticky key when its worker has no room, and keeps it otherwise', async () => {
    h = await harness.start();
    const held = gate<string>();
    const hold = job('hold', () => held.opened);
    const a = await h.addWorker('a', { slots: 1, tasks: [hold, echo] });
    const b = await h.addWorker('b', { slots: 1, tasks: [hold, echo] });
    const first = await h.client.enqueue({ task: 'echo', sticky: { key: 'k' } });
    await h.client.waitRun(first.id, { timeoutMs: 10_000 });
    const home = ranOn(a, first.id) ? a : b;
    const away = home === a ? b : a;
    const again = await h.client.enqueue({ task: 'echo', sticky: { key: 'k' } });
    await h.client.waitRun(again.id, { timeoutMs: 10_000 });
    expect(ranOn(home, again.id)).toBe(true);
    // Fill the home worker; the soft key may then run elsewhere.
    const blocker = await h.client.enqueue({
      task: 'hold',
      affinity: { required: {} },
      sticky: { key: 'k' },
    });
    await until(() => ranOn(home, blocker.id), 'the blocker on the home worker');
    const moved = await h.client.enqueue({ task: 'echo', sticky: { key: 'k' } });
    await h.client.waitRun(moved.id, { timeoutMs: 10_000 });
    expect(ranOn(away, moved.id)).toBe(true);
    held.open('held');
  });

  it('never runs more than the limit of one concurrency key at once, across workers', async () => {
    h = await harness.start();
    let current = 0;
    let peak = 0;
    const limited = job('job', async (_input, ctx) => {
      current++;
      peak = Math.max(peak, current);
      await sleep(40, ctx.signal);
      current--;
      return 'done';
    });
    await h.addWorker('a', { slots: 5, tasks: [limited] });
    await h.addWorker('b', { slots: 5, tasks: [limited] });
    const runs = await h.client.enqueueMany(
      Array.from({ length: 8 }, () => ({ task: 'job', concurrency: { key: 'tenant-1', limit: 2 } })),
    );
    for (const r of runs)
      expect((await h.client.waitRun(r.id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
    expect(peak).toBe(2);
  });

  it('starts a run queued behind more blocked runs than one claim reads at once', async () => {
    h = await harness.start();
    const held = gate<string>();
    const hold = job('hold', () => held.opened);
    const worker = await h.addWorker('w', { slots: 2, tasks: [hold, echo] });
    const holder = await h.client.enqueue({ task: 'hold', concurrency: { key: 'tenant', limit: 1 } });
    await until(() => worker.started.length === 1, 'the holder');
    // Ahead of the free run: runs held back by their concurrency key, runs too big for the worker, and runs
    // whose hard sticky key is bound to another live worker; together more than a claim's first page.
    await h.client.enqueueMany([
      ...Array.from({ length: 30 }, () => ({ task: 'hold', concurrency: { key: 'tenant', limit: 1 } })),
      ...Array.from({ length: 30 }, () => ({ task: 'echo', slotCost: 3 })),
    ]);
    const other = await h.addWorker('other', { slots: 1, tasks: [hold] });
    const bound = await h.client.enqueue({ task: 'hold', sticky: { key: 'session', mode: 'hard' } });
    await until(() => ranOn(other, bound.id), 'the sticky key bound to the other worker');
    await h.client.enqueueMany(
      Array.from({ length: 30 }, () => ({ task: 'hold', sticky: { key: 'session', mode: 'hard' as const } })),
    );
    const free = await h.client.enqueue({ task: 'echo', input: 'behind them' });
    expect(await h.client.waitRun(free.id, { timeoutMs: 10_000 })).toMatchObject({
      state: 'COMPLETED',
      output: 'behind them',
    });
    expect(worker.started.map((s) => s.runId)).toEqual([holder.id, free.id]);
    held.open('held');
  });
});
