// Child runs on both stores: a parent awaiting its child suspends and holds no slot meanwhile, gets the child's
// output or its failure, spawns each keyed child once however often it is retried, and only the worker running
// the parent's current attempt may ask for a child.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { task } from '../../src/index.ts';
import { type Harness, harnessPerTest, until } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

const double = task({ name: 'child.double', input: z.object({ n: z.number() }), run: ({ n }) => n * 2 });
const refuse = task({
  name: 'child.refuse',
  input: z.object({}),
  retries: 0,
  run: () => {
    throw new Error('the child says no');
  },
});
const parent = task({
  name: 'child.parent',
  input: z.object({ n: z.number() }),
  run: async ({ n }, ctx) => {
    const twice = await ctx.runChild(double, { n });
    return { twice, ran: await ctx.step('after', () => 'after the child') };
  },
});
const parentOfRefused = task({
  name: 'child.parent-of-refused',
  input: z.object({}),
  run: async (_input, ctx) => ctx.runChild(refuse, {}),
});

describe.each(storeTargets('pw_child_runs'))('child runs on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;

  it('runs a child awaited by its parent, which holds no slot while it waits', async () => {
    h = await harness.start();
    // One slot: the child can only run if the parent gave its slot back.
    const worker = await h.addWorker('family', { tasks: [parent, double], slots: 1 });
    const run = await h.client.enqueue({ task: 'child.parent', input: { n: 21 } });
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: { twice: 42, ran: 'after the child' } });
    const detail = await h.client.getRun(run.id);
    expect(detail.attempts.map((a) => a.outcome)).toEqual(['suspended', 'completed']);
    const entry = detail.journal?.['child:1'];
    expect(entry).toMatchObject({ kind: 'child', result: { state: 'COMPLETED', output: 42 } });
    const child = await h.client.getRun((entry as { runId: string }).runId);
    expect(child).toMatchObject({ task: 'child.double', state: 'COMPLETED', parentRunId: run.id });
    expect(worker.started.filter((s) => s.runId === run.id).length).toBe(2);
  });

  it('fails the parent with ChildRunFailed when its child fails', async () => {
    h = await harness.start();
    await h.addWorker('family', { tasks: [parentOfRefused, refuse] });
    const run = await h.client.enqueue({ task: 'child.parent-of-refused', input: {} });
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done.state).toBe('FAILED');
    expect(done.error).toMatchObject({ name: 'ChildRunFailed', retryable: false });
    expect(done.error?.message).toMatch(/ended FAILED: the child says no/);
  });

  it('spawns each keyed child once, also when the parent is retried', async () => {
    h = await harness.start();
    const spawner = task({
      name: 'child.spawner',
      input: z.object({}),
      retries: 2,
      run: async (_input, ctx) => {
        const ids: string[] = [];
        for (const n of [1, 2, 3]) ids.push((await ctx.spawn(double, { n }, { key: `n-${n}` })).runId);
        if (ctx.attempt === 1) throw new Error('fails once after spawning');
        return ids;
      },
    });
    await h.addWorker('family', { tasks: [spawner, double] });
    const run = await h.client.enqueue({ task: 'child.spawner', input: {} });
    const done = await h.client.waitRun(run.id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', attempt: 2 });
    const children = await until(async () => {
      const listed = (await h.client.listRuns({ task: 'child.double' })).runs;
      return listed.length === 3 && listed.every((r) => r.state === 'COMPLETED') ? listed : undefined;
    }, 'the three children to complete');
    expect(children.map((c) => c.id).sort()).toEqual([...(done.output as string[])].sort());
    expect(children.every((c) => c.parentRunId === run.id)).toBe(true);
  });

  it('refuses a child asked for by another worker, for a stale attempt, or of an unknown run', async () => {
    h = await harness.start();
    const held = task({
      name: 'child.held',
      input: z.object({}),
      run: (_i, ctx) =>
        new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    });
    const owner = await h.addWorker('owner', { tasks: [held] });
    const other = await h.addWorker('other', { tasks: [double] });
    const run = await h.client.enqueue({ task: 'child.held', input: {} });
    await until(() => owner.started.some((s) => s.runId === run.id), 'the run to start');
    const ask = (token: string, id: string, attempt: number) =>
      fetch(`${h.url}/v1/runs/${id}/children`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ attempt, key: 'k', task: 'child.double', input: { n: 1 } }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    expect(await ask(other.token, run.id, 1)).toMatchObject({
      status: 403,
      body: { error: { code: 'forbidden' } },
    });
    expect(await ask(owner.token, run.id, 2)).toMatchObject({
      status: 409,
      body: { error: { code: 'conflict' } },
    });
    expect(await ask(owner.token, 'run_nothing', 1)).toMatchObject({ status: 404 });
    const first = await ask(owner.token, run.id, 1);
    expect(first).toMatchObject({ status: 201, body: { created: true } });
    expect(await ask(owner.token, run.id, 1)).toMatchObject({
      status: 200,
      body: { runId: first.body.runId, created: false },
    });
    expect((await h.client.listRuns({ task: 'child.double' })).runs.length).toBe(1);
    await h.client.cancel(run.id);
  });
});
