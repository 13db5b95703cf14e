// DAG workflows on both stores: fan-out and fan-in with each task reading its parents' outputs, a parent that
// fails for good failing what is below it, a cancel ending what is queued, running and not yet started, one run
// per idempotency key, a sticky workflow run kept on one worker, a lost wake-up caught up by the sweeper, and an
// advance that queues tasks in one read of the workflow run and one of its task runs.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TaskDeclarations } from '../../src/engine/declarations.ts';
import type { Sql, SqlClient } from '../../src/engine/store/sql.ts';
import { workflowRunsPending } from '../../src/engine/store/workflow-runs.ts';
import { advanceWorkflowRun } from '../../src/engine/workflows/advance.ts';
import { NonRetryableError, task, workflow } from '../../src/index.ts';
import {
  API_TOKEN,
  engineMetric,
  gate,
  type Harness,
  harnessPerTest,
  startHarness,
  until,
  untilStopped,
} from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

const Order = z.object({ orderId: z.string(), fail: z.string().optional() });

const fetchOrder = task({ name: 'wf.fetch', input: Order, run: (o) => ({ id: o.orderId, total: 30 }) });
const price = task({
  name: 'wf.price',
  input: Order,
  parents: [fetchOrder],
  run: async (o, ctx) => {
    if (o.fail === 'price') throw new NonRetryableError('no price');
    return { net: (await ctx.parentOutput(fetchOrder)).total - 5 };
  },
});
const stock = task({
  name: 'wf.stock',
  input: Order,
  parents: [fetchOrder],
  run: async (_o, ctx) => ({ reserved: (await ctx.parentOutput(fetchOrder)).id }),
});
const invoice = task({
  name: 'wf.invoice',
  input: Order,
  parents: [price, stock],
  run: async (o, ctx) => ({
    orderId: o.orderId,
    workflowRunId: ctx.workflowRunId,
    net: (await ctx.parentOutput(price)).net,
    reserved: (await ctx.parentOutput(stock)).reserved,
  }),
});
const orders = workflow({ name: 'orders', tasks: [fetchOrder, price, stock, invoice] });

/** `sql` with every statement it runs, in a transaction or not, noted in `texts`. */
function noting(sql: Sql, texts: string[]): Sql {
  const note = <C extends SqlClient>(client: C): C =>
    Object.assign(Object.create(client) as C, {
      query: (text: string, params?: unknown[]) => {
        texts.push(text);
        return client.query(text, params);
      },
    });
  return Object.assign(note(sql), {
    transaction: <T>(fn: (tx: SqlClient) => Promise<T>) => sql.transaction((tx) => fn(note(tx))),
  });
}

describe.each(storeTargets('pw_workflows'))('workflows on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;

  it('runs a DAG: fan-out after the first task, fan-in after both, each task reading its parents', async () => {
    h = await harness.start();
    await h.addWorker('shop', { workflows: [orders] });
    expect((await h.client.listWorkflows()).map((w) => w.name)).toEqual(['orders']);

    const enqueued = await h.client.runWorkflow({ workflow: 'orders', input: { orderId: 'o-1' } });
    expect(enqueued).toMatchObject({ workflow: 'orders', state: 'RUNNING', created: true });
    expect(enqueued.tasks.map((t) => [t.task, t.state === 'PENDING' ? 'PENDING' : 'HAS_RUN'])).toEqual([
      ['wf.fetch', 'HAS_RUN'],
      ['wf.price', 'PENDING'],
      ['wf.stock', 'PENDING'],
      ['wf.invoice', 'PENDING'],
    ]);
    const done = await h.client.waitWorkflowRun(enqueued.id, { timeoutMs: 20_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.finishedAt).not.toBeNull();
    expect(done.tasks.every((t) => t.state === 'COMPLETED')).toBe(true);
    expect(done.output['wf.invoice']).toEqual({
      orderId: 'o-1',
      workflowRunId: enqueued.id,
      net: 25,
      reserved: 'o-1',
    });

    // Each task ran once, after its parents finished.
    const runs = await Promise.all(done.tasks.map((t) => h.client.getRun(t.runId!)));
    const at = new Map(runs.map((r) => [r.task, r]));
    for (const r of runs) expect(r.workflowRunId).toBe(enqueued.id);
    for (const child of ['wf.price', 'wf.stock'])
      expect(Date.parse(at.get(child)!.startedAt!)).toBeGreaterThanOrEqual(
        Date.parse(at.get('wf.fetch')!.finishedAt!),
      );
    for (const parent of ['wf.price', 'wf.stock'])
      expect(Date.parse(at.get('wf.invoice')!.startedAt!)).toBeGreaterThanOrEqual(
        Date.parse(at.get(parent)!.finishedAt!),
      );
    expect(h.workers[0]!.started.length).toBe(4);
    expect(await engineMetric(h, 'pushworker_workflow_runs_finished_total')).toBe(1);
  });

  it('advances a workflow run from the events that end its tasks, without looking up their workflow run', async () => {
    const texts: string[] = [];
    const noted = await startHarness(noting(harness.sql, texts));
    try {
      await noted.addWorker('shop', { workflows: [orders] });
      const { id } = await noted.client.runWorkflow({ workflow: 'orders', input: { orderId: 'o-5' } });
      expect((await noted.client.waitWorkflowRun(id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
      expect(texts.filter((t) => /UPDATE pw_runs SET dag_pending = false/.test(t)).length).toBeGreaterThan(0);
      expect(texts.filter((t) => /WHERE id = ANY\(\$1::text\[\]\) AND dag_pending/.test(t))).toEqual([]);
    } finally {
      await noted.close();
    }
  });

  it('fails the tasks below a parent that failed for good, runs the other branch, and fails the workflow run', async () => {
    h = await harness.start();
    await h.addWorker('shop', { workflows: [orders] });
    const { id } = await h.client.runWorkflow({
      workflow: 'orders',
      input: { orderId: 'o-2', fail: 'price' },
    });
    const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
    expect(done.state).toBe('FAILED');
    const byTask = new Map(done.tasks.map((t) => [t.task, t]));
    expect(byTask.get('wf.fetch')!.state).toBe('COMPLETED');
    expect(byTask.get('wf.stock')!.state).toBe('COMPLETED');
    expect(byTask.get('wf.price')).toMatchObject({ state: 'FAILED', error: { name: 'NonRetryableError' } });
    expect(byTask.get('wf.invoice')).toMatchObject({
      state: 'FAILED',
      error: { name: 'ParentFailed', message: 'parent task "wf.price" failed', retryable: false },
    });
    // Recorded as a run of its own, which never went to a worker.
    const invoiceRun = await h.client.getRun(byTask.get('wf.invoice')!.runId!);
    expect(invoiceRun).toMatchObject({ state: 'FAILED', attempt: 0, workerId: null });
    expect(h.workers[0]!.started.length).toBe(3);
  });

  it('retries an ended workflow run: its failed task and the tasks below it run, the completed ones do not', async () => {
    h = await harness.start();
    let refusals = 1;
    const flaky = task({
      name: 'wf.flaky',
      input: Order,
      parents: [fetchOrder],
      run: async (_o, ctx) => {
        if (refusals-- > 0) throw new NonRetryableError('not yet');
        return { net: (await ctx.parentOutput(fetchOrder)).total - 5 };
      },
    });
    const total = task({
      name: 'wf.total',
      input: Order,
      parents: [flaky],
      run: async (_o, ctx) => ctx.parentOutput(flaky),
    });
    const worker = await h.addWorker('shop', {
      workflows: [workflow({ name: 'flaky', tasks: [fetchOrder, flaky, total] })],
    });
    const { id } = await h.client.runWorkflow({ workflow: 'flaky', input: { orderId: 'r-1' } });
    const failed = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
    expect(failed.tasks.map((t) => t.state)).toEqual(['COMPLETED', 'FAILED', 'FAILED']);
    const flakyRun = failed.tasks[1]!.runId!;
    // A task of a workflow is retried with its workflow run, which also runs what is below it.
    const alone = await fetch(`${h.url}/v1/runs/${flakyRun}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(alone.status).toBe(409);
    expect(((await alone.json()) as any).error.message).toContain(`/v1/workflow-runs/${id}/retry`);

    expect((await h.client.retryWorkflowRun(id)).state).toBe('RUNNING');
    const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.output['wf.total']).toEqual({ net: 25 });
    expect(done.tasks[1]!.runId).toBe(flakyRun);
    expect(worker.started.length).toBe(4);
    await expect(h.client.retryWorkflowRun('wfr_missing')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('cancels a workflow run: the running task is stopped and the tasks not started never run', async () => {
    h = await harness.start();
    const entered = gate();
    const slow = task({
      name: 'wf.slow',
      input: z.unknown(),
      run: (input, ctx) => {
        entered.open();
        return untilStopped(input, ctx);
      },
    });
    const after = task({ name: 'wf.after', input: z.unknown(), parents: [slow], run: () => 'never' });
    const worker = await h.addWorker('shop', {
      workflows: [workflow({ name: 'slowflow', tasks: [slow, after] })],
    });
    const { id } = await h.client.runWorkflow({ workflow: 'slowflow', input: {} });
    await entered.opened;
    const cancelled = await h.client.cancelWorkflowRun(id);
    expect(cancelled.state).toBe('CANCELLED');
    expect(cancelled.tasks).toMatchObject([
      { task: 'wf.slow', state: 'CANCELLED' },
      { task: 'wf.after', state: 'CANCELLED', error: { name: 'WorkflowCancelled' } },
    ]);
    // Told by the cancel push, or by the engine answering its started event `stale`, whichever comes first.
    await until(
      () => worker.aborted.find((a) => a.reason === 'Cancelled' || a.reason === 'Stale'),
      'the running task to be told to stop',
    );
    expect(worker.started.length).toBe(1);
    // A second cancel answers with the ended run.
    expect((await h.client.cancelWorkflowRun(id)).state).toBe('CANCELLED');
  });

  it('enqueues one workflow run per idempotency key, and refuses a workflow no worker declares', async () => {
    h = await harness.start();
    await h.addWorker('shop', { workflows: [orders] });
    const first = await h.client.runWorkflow({
      workflow: 'orders',
      input: { orderId: 'k' },
      idempotencyKey: 'order-k',
    });
    const again = await h.client.runWorkflow({
      workflow: 'orders',
      input: { orderId: 'k' },
      idempotencyKey: 'order-k',
    });
    expect(again).toMatchObject({ id: first.id, created: false });
    await h.client.waitWorkflowRun(first.id, { timeoutMs: 20_000 });
    const listed = await h.client.listWorkflowRuns({ workflow: 'orders' });
    expect(listed.workflowRuns.map((r) => r.id)).toEqual([first.id]);
    expect((await h.client.listWorkflowRuns({ state: 'RUNNING' })).workflowRuns).toEqual([]);

    const res = await fetch(`${h.url}/v1/workflow-runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ workflow: 'nobody-declares', input: {} }),
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe('not_found');
    expect(
      await (
        await fetch(`${h.url}/v1/workflow-runs/wfr_missing`, {
          headers: { authorization: `Bearer ${API_TOKEN}` },
        })
      ).status,
    ).toBe(404);
  });

  it('pins a sticky workflow run to the worker its first task ran on', async () => {
    h = await harness.start();
    const a = task({ name: 'wf.a', input: z.unknown(), run: () => 1 });
    const b = task({ name: 'wf.b', input: z.unknown(), parents: [a], run: () => 2 });
    const c = task({ name: 'wf.c', input: z.unknown(), parents: [b], run: () => 3 });
    const pinned = workflow({ name: 'pinned', tasks: [a, b, c], sticky: 'hard' });
    const one = await h.addWorker('one', { workflows: [pinned] });
    const two = await h.addWorker('two', { workflows: [pinned] });
    const ids = await Promise.all(
      Array.from(
        { length: 6 },
        async () => (await h.client.runWorkflow({ workflow: 'pinned', input: {} })).id,
      ),
    );
    for (const id of ids) {
      const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
      expect(done.state).toBe('COMPLETED');
      const workers = new Set(
        (await Promise.all(done.tasks.map((t) => h.client.getRun(t.runId!)))).map((r) => r.workerId),
      );
      expect(workers.size).toBe(1);
    }
    expect(one.started.length + two.started.length).toBe(18);
  });

  it('runs a workflow on each published event it listens for, once per event id', async () => {
    h = await harness.start();
    const onOrder = workflow({
      name: 'on-order',
      tasks: [fetchOrder, price, stock, invoice],
      on: ['order.placed'],
    });
    await h.addWorker('shop', { workflows: [onOrder] });
    const event = { name: 'order.placed', id: 'evt-wf-1', payload: { orderId: 'e-1' } };
    const published = await h.client.publish(event);
    expect(published.runs).toEqual([]);
    expect(published.workflowRuns).toMatchObject([{ workflow: 'on-order', state: 'RUNNING' }]);
    const id = published.workflowRuns[0]!.id;
    const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', input: { orderId: 'e-1' } });
    expect(done.metadata).toMatchObject({
      'pushworker.event': 'evt-wf-1',
      'pushworker.eventName': 'order.placed',
    });

    const again = await h.client.publish(event);
    expect(again.created).toBe(false);
    expect(again.workflowRuns).toEqual([{ id, workflow: 'on-order', state: 'COMPLETED' }]);
    expect((await h.client.listWorkflowRuns()).workflowRuns.map((r) => r.id)).toEqual([id]);
    expect((await h.client.getEvent('evt-wf-1')).workflowRuns).toEqual([
      { id, workflow: 'on-order', state: 'COMPLETED' },
    ]);
  });

  it('fails a workflow task run alone, with no parents to read, saying so', async () => {
    h = await harness.start();
    await h.addWorker('shop', { workflows: [orders] });
    const alone = await h.client.enqueue({ task: 'wf.price', input: { orderId: 'x' } });
    const ended = await h.client.waitRun(alone.id, { timeoutMs: 20_000 });
    expect(ended.state).toBe('FAILED');
    expect(ended.error?.message).toMatch(/is not part of a workflow run/);
    expect(ended.workflowRunId).toBeUndefined();
  });

  /** A workflow run of `orders` run to its end, then set back to where it stood when its first task had completed. */
  async function afterFirstTask(orderId: string): Promise<string> {
    h = await harness.start({ sweepIntervalMs: 60_000 });
    await h.addWorker('shop', { workflows: [orders] });
    const { id } = await h.client.runWorkflow({ workflow: 'orders', input: { orderId } });
    expect((await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    // As if the engine had died before advancing it.
    await harness.sql.query(`DELETE FROM pw_runs WHERE workflow_run_id = $1 AND task <> 'wf.fetch'`, [id]);
    await harness.sql.query(`UPDATE pw_runs SET dag_pending = true WHERE workflow_run_id = $1`, [id]);
    await harness.sql.query(
      `UPDATE pw_workflow_runs SET state = 'RUNNING', finished_at = NULL WHERE id = $1`,
      [id],
    );
    expect((await h.client.getWorkflowRun(id)).tasks.map((t) => t.state)).toEqual([
      'COMPLETED',
      'PENDING',
      'PENDING',
      'PENDING',
    ]);
    return id;
  }

  it('advances from the sweeper a workflow run whose wake-up was lost', async () => {
    const id = await afterFirstTask('o-3');
    await h.engine.sweep();
    const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.output['wf.invoice']).toMatchObject({ orderId: 'o-3', net: 25 });
  });

  it('queues the tasks a completed parent allows in three statements: lock, read and mark, insert', async () => {
    const id = await afterFirstTask('o-4');
    expect(await workflowRunsPending(harness.sql)).toEqual([id]);
    const texts: string[] = [];
    const declarations = new TaskDeclarations(harness.sql);
    const outcome = await advanceWorkflowRun(noting(harness.sql, texts), declarations, id);
    expect(outcome).toMatchObject({ started: 2, ended: [] });
    const declarationReads = texts.filter((t) => /jsonb_array_elements\(w\.tasks\)/.test(t));
    expect(texts.filter((t) => !declarationReads.includes(t))).toEqual([
      expect.stringMatching(/^SELECT \* FROM pw_workflow_runs WHERE id = \$1 FOR UPDATE$/),
      expect.stringMatching(
        /UPDATE pw_runs SET dag_pending = false[\s\S]*SELECT \* FROM pw_runs WHERE workflow_run_id/,
      ),
      expect.stringMatching(/^\s*INSERT INTO pw_runs/),
    ]);
    // The first task's end is acted on: the sweeper finds nothing left to advance.
    expect(await workflowRunsPending(harness.sql)).toEqual([]);
    const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
    expect(done.state).toBe('COMPLETED');
    expect(done.output['wf.invoice']).toMatchObject({ orderId: 'o-4', net: 25 });
  });
});
