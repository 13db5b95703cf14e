// Cancelling a run cancels its child runs, and theirs, on both stores: a cancel through the API (or of a workflow
// run) answers once its children are CANCELLED (ParentCancelled, naming the parent), a batch of a hundred at a
// time; a cascade a crash left flagged is finished by the sweep; a spawn under a cancelled run is refused, also
// when the two race; a run that failed or completed leaves its children alone; a retry stops what is left.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CHILD_CANCEL_BATCH, lockSpawningParent } from '../../src/engine/store/child-runs.ts';
import { json } from '../../src/engine/store/records.ts';
import { CANCEL_RUNS, getRun, insertRuns } from '../../src/engine/store/runs.ts';
import type { Sql } from '../../src/engine/store/sql.ts';
import { NonRetryableError, task, workflow } from '../../src/index.ts';
import { childRunKey } from '../../src/protocol/child-runs.ts';
import {
  engineMetric,
  type Harness,
  type HarnessWorker,
  harnessPerTest,
  until,
  untilStopped,
} from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

/** Children that hold their slot until stopped. */
const leaf = task({ name: 'cc.leaf', input: z.object({ i: z.number() }), run: untilStopped });
/** A run that holds until stopped, as a parent asked for children by hand. */
const held = task({ name: 'cc.held', input: z.unknown(), run: untilStopped });
/** A task no worker serves: its runs stay queued. */
const unserved = task({ name: 'cc.unserved', input: z.unknown(), run: () => null });

/** Spawns `leaves` leaf children, then holds until stopped. */
const fanOut = task({
  name: 'cc.fan-out',
  input: z.object({ leaves: z.number() }),
  run: async ({ leaves }, ctx) => {
    for (let i = 0; i < leaves; i++) await ctx.spawn(leaf, { i }, { key: `leaf-${i}` });
    return untilStopped(undefined, ctx);
  },
});
/** Spawns `middles` fan-outs of three leaves each: grandchildren. */
const grandparent = task({
  name: 'cc.grandparent',
  input: z.object({ middles: z.number() }),
  run: async ({ middles }, ctx) => {
    for (let i = 0; i < middles; i++) await ctx.spawn(fanOut, { leaves: 3 }, { key: `middle-${i}` });
    return untilStopped(undefined, ctx);
  },
});
/** Spawns unserved children for as long as the engine takes them. */
const spawner = task({
  name: 'cc.spawner',
  input: z.object({}),
  retries: 0,
  run: async (_input, ctx) => {
    for (let i = 0; ; i++) await ctx.spawn(unserved, { i }, { key: `s-${i}` });
  },
});

type ChildRow = {
  id: string;
  state: string;
  error: { name: string; message: string; retryable: boolean } | null;
  cancel_children: boolean;
};

const childrenOf = (sql: Sql, parentId: string) =>
  sql.query<ChildRow>(
    'SELECT id, state, error, cancel_children FROM pw_runs WHERE parent_run_id = $1 ORDER BY seq',
    [parentId],
  );
const live = (rows: ChildRow[]) => rows.filter((r) => ['QUEUED', 'ASSIGNED', 'RUNNING'].includes(r.state));
const flagged = async (sql: Sql) =>
  (await sql.query<{ id: string }>('SELECT id FROM pw_runs WHERE cancel_children')).map((r) => r.id);

/** Every row CANCELLED by the cancel of `parentId`, the error naming it. */
function expectCancelledBy(rows: ChildRow[], parentId: string): void {
  expect(rows.filter((r) => r.state !== 'CANCELLED')).toEqual([]);
  for (const row of rows) {
    expect(row.error).toMatchObject({ name: 'ParentCancelled', retryable: false });
    expect(row.error?.message).toContain(parentId);
  }
}

/** Queued runs of the unserved task under `parentId`, inserted as a spawn would (its key and parent). */
function unservedChildren(parentId: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: `${parentId}-child-${i}`,
    task: 'cc.unserved',
    input: { i },
    idempotencyKey: childRunKey(parentId, `k-${i}`),
    parentRunId: parentId,
  }));
}

/**
 * Resolves once another connection waits on a row lock in this database (Postgres); on the embedded store, whose
 * one connection runs a transaction to its end first, whatever comes meanwhile waits for it anyway.
 */
async function someoneWaitsOnALock(sql: Sql): Promise<void> {
  if (sql.kind !== 'postgres') return new Promise((resolve) => setTimeout(resolve, 50));
  await until(async () => {
    const rows = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    return rows[0]!.n > 0;
  }, 'another connection to wait on the lock');
}

/** Asks for a child of `runId` with a worker's token, as ctx.spawn does. */
function spawnAs(h: Harness, worker: HarnessWorker, runId: string, attempt: number, key: string) {
  return fetch(`${h.url}/v1/runs/${runId}/children`, {
    method: 'POST',
    headers: { authorization: `Bearer ${worker.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ attempt, key, task: 'cc.unserved', input: {} }),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
}

describe.each(storeTargets('pw_child_cancels'))('cancels cascading to child runs on $name', ({ open }) => {
  const harness = harnessPerTest(open);
  let h: Harness;

  /** A run of a task that holds until stopped, started on its own worker. */
  async function heldRun(): Promise<{ id: string; worker: HarnessWorker }> {
    const worker = await h.addWorker('owner', { tasks: [held] });
    const run = await h.client.enqueue({ task: 'cc.held', input: {} });
    await until(() => worker.started.some((s) => s.runId === run.id), 'the held run to start');
    await until(async () => (await getRun(h.engine.sql, run.id))?.state === 'RUNNING', 'it to run');
    return { id: run.id, worker };
  }

  it('cancels every child of a cancelled run before the cancel answers, more than two batches of them', async () => {
    h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
    const worker = await h.addWorker('family', { tasks: [fanOut, leaf], slots: 6 });
    const count = 2 * CHILD_CANCEL_BATCH + 30;
    const parent = await h.client.enqueue({ task: 'cc.fan-out', input: { leaves: count } });
    await until(
      async () => (await childrenOf(h.engine.sql, parent.id)).length === count,
      `the ${count} children to be spawned`,
      { timeoutMs: 60_000 },
    );
    // Five of them run on the worker (its sixth slot holds the parent); the others are queued.
    const onWorker = await until(async () => {
      const rows = await h.engine.sql.query<{ id: string }>(
        `SELECT id FROM pw_runs WHERE parent_run_id = $1 AND state IN ('ASSIGNED', 'RUNNING')`,
        [parent.id],
      );
      return rows.length === 5 ? rows.map((r) => r.id) : undefined;
    }, 'five children on the worker');

    const cancelled = await h.client.cancel(parent.id);
    expect(cancelled.state).toBe('CANCELLED');
    // Read straight after the answer: the cancel waited for the cascade.
    const children = await childrenOf(h.engine.sql, parent.id);
    expect(children.length).toBe(count);
    expectCancelledBy(children, parent.id);
    expect(await flagged(h.engine.sql)).toEqual([]);
    expect(await engineMetric(h, 'pushworker_child_runs_cancelled_total')).toBe(count);
    // Those on the worker were cancelled as an API cancel is: their worker told to stop them (or answered
    // `stale` for an event of theirs it sent before the cancel push came).
    await until(
      () =>
        onWorker.every((id) =>
          worker.aborted.some((a) => a.runId === id && (a.reason === 'Cancelled' || a.reason === 'Stale')),
        ),
      'the worker to stop the children it ran',
      { detail: () => ({ aborted: worker.aborted }) },
    );
    const view = await h.client.getRun(onWorker[0]!);
    expect(view.attempts.at(-1)).toMatchObject({ outcome: 'cancelled' });
    // Their slots came free: nothing is held on the worker any more.
    await until(
      async () => (await h.client.listWorkers()).find((w) => w.name === 'family')?.slots.used === 0,
      'the worker to hold no slot',
    );
  });

  it('cancels grandchildren too, each naming the run whose cancel reached it', async () => {
    h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
    await h.addWorker('family', { tasks: [grandparent, fanOut, leaf], slots: 12 });
    const root = await h.client.enqueue({ task: 'cc.grandparent', input: { middles: 2 } });
    const middles = await until(async () => {
      const rows = await childrenOf(h.engine.sql, root.id);
      if (rows.length < 2) return undefined;
      const leaves = await Promise.all(rows.map((m) => childrenOf(h.engine.sql, m.id)));
      return leaves.every((l) => l.length === 3) ? rows : undefined;
    }, 'two children with three children each');

    await h.client.cancel(root.id);
    expectCancelledBy(await childrenOf(h.engine.sql, root.id), root.id);
    for (const middle of middles) expectCancelledBy(await childrenOf(h.engine.sql, middle.id), middle.id);
    expect(await flagged(h.engine.sql)).toEqual([]);
    expect(await engineMetric(h, 'pushworker_child_runs_cancelled_total')).toBe(2 + 6);
  });

  it('finishes a cascade a crash left flagged at the next sweep', async () => {
    // No sweep but the test's own.
    h = await harness.start({ sweepIntervalMs: 3_600_000 });
    const sql = h.engine.sql;
    const now = Date.now();
    const count = CHILD_CANCEL_BATCH + 50;
    await insertRuns(sql, [{ id: 'crashed', task: 'cc.unserved', input: {} }], now);
    const children = unservedChildren('crashed', count);
    await insertRuns(sql, children, now);
    await insertRuns(sql, unservedChildren(children[0]!.id, 2), now);
    // The parent's cancel committed with its flag, and the engine died before the cascade.
    await sql.query(
      `UPDATE pw_runs SET state = 'CANCELLED', finished_at = $2, cancel_children = true WHERE id = $1`,
      ['crashed', now],
    );
    expect(live(await childrenOf(sql, 'crashed')).length).toBe(count);

    await h.engine.sweep();
    expectCancelledBy(await childrenOf(sql, 'crashed'), 'crashed');
    expectCancelledBy(await childrenOf(sql, children[0]!.id), children[0]!.id);
    expect(await flagged(sql)).toEqual([]);
    expect(await engineMetric(h, 'pushworker_child_runs_cancelled_total')).toBe(count + 2);
    // A sweep with nothing flagged changes nothing.
    await h.engine.sweep();
    expect(await engineMetric(h, 'pushworker_child_runs_cancelled_total')).toBe(count + 2);
  });

  it('refuses a child asked for after its parent was cancelled (409 conflict), and stores none', async () => {
    h = await harness.start();
    const { id, worker } = await heldRun();
    expect(await spawnAs(h, worker, id, 1, 'early')).toMatchObject({ status: 201 });
    await h.client.cancel(id);
    const refused = await spawnAs(h, worker, id, 1, 'late');
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect(refused.body.error.message).toMatch(/cancelled/);
    // Asking again for the child spawned before is refused too: the run spawns nothing any more.
    expect(await spawnAs(h, worker, id, 1, 'early')).toMatchObject({ status: 409 });
    const rows = await childrenOf(h.engine.sql, id);
    expect(rows.length).toBe(1);
    expectCancelledBy(rows, id);
    const late = await h.engine.sql.query('SELECT 1 FROM pw_runs WHERE idempotency_key = $1', [
      childRunKey(id, 'late'),
    ]);
    expect(late).toEqual([]);
  });

  it('cancels a child whose spawn held the parent when the cancel came', async () => {
    h = await harness.start();
    const { id } = await heldRun();
    const sql = h.engine.sql;
    let cancelling: ReturnType<Harness['client']['cancel']> | undefined;
    // The spawn's transaction, as Intake.enqueueChildren runs it, with the cancel arriving in its middle.
    await sql.transaction(async (tx) => {
      expect((await lockSpawningParent(tx, id))?.state).toBe('RUNNING');
      cancelling = h.client.cancel(id);
      await someoneWaitsOnALock(sql);
      await insertRuns(tx, unservedChildren(id, 1), Date.now());
    });
    expect((await cancelling!).state).toBe('CANCELLED');
    // The cancel saw the child once the spawn committed, and cancelled it before answering.
    const rows = await childrenOf(sql, id);
    expect(rows.length).toBe(1);
    expectCancelledBy(rows, id);
  });

  it('refuses a spawn that waited for the cancel holding its parent', async () => {
    h = await harness.start();
    const { id, worker } = await heldRun();
    const sql = h.engine.sql;
    let spawning: ReturnType<typeof spawnAs> | undefined;
    // The cancel's transaction, as cancelRun runs it, with the spawn arriving in its middle.
    await sql.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM pw_runs WHERE id = $1 FOR UPDATE', [id]);
      spawning = spawnAs(h, worker, id, 1, 'raced');
      await someoneWaitsOnALock(sql);
      const error = { message: 'the run was cancelled', name: 'Cancelled', retryable: false };
      await tx.query(CANCEL_RUNS, [[id], Date.now(), json(error)]);
    });
    expect(await spawning!).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect(await childrenOf(sql, id)).toEqual([]);
  });

  it('leaves no live child of a run cancelled while it spawns as fast as it can', async () => {
    h = await harness.start();
    await h.addWorker('spawner', { tasks: [spawner] });
    const run = await h.client.enqueue({ task: 'cc.spawner', input: {} });
    await until(async () => (await childrenOf(h.engine.sql, run.id)).length >= 20, 'twenty children');
    await h.client.cancel(run.id);
    const atAnswer = await childrenOf(h.engine.sql, run.id);
    expect(live(atAnswer)).toEqual([]);
    // A spawn under way at the cancel has been refused by now, or its child was cancelled with the others.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await childrenOf(h.engine.sql, run.id);
    expect(live(after)).toEqual([]);
    // A spawn commits only while its parent is live, before the cancel takes the parent: none came after it.
    expect(after.length).toBe(atAnswer.length);
    expectCancelledBy(after, run.id);
  });

  it('leaves the children of a run that failed or completed running', async () => {
    h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
    const failing = task({
      name: 'cc.fails-after-spawning',
      input: z.object({}),
      retries: 0,
      run: async (_input, ctx) => {
        await ctx.spawn(leaf, { i: 0 }, { key: 'a' });
        await ctx.spawn(unserved, {}, { key: 'b' });
        throw new NonRetryableError('the parent gives up');
      },
    });
    const completing = task({
      name: 'cc.completes-after-spawning',
      input: z.object({}),
      run: async (_input, ctx) => (await ctx.spawn(unserved, {}, { key: 'c' })).runId,
    });
    await h.addWorker('family', { tasks: [failing, completing, leaf] });
    const failed = await h.client.enqueue({ task: 'cc.fails-after-spawning', input: {} });
    const completed = await h.client.enqueue({ task: 'cc.completes-after-spawning', input: {} });
    expect((await h.client.waitRun(failed.id, { timeoutMs: 20_000 })).state).toBe('FAILED');
    expect((await h.client.waitRun(completed.id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    await until(
      async () => (await childrenOf(h.engine.sql, failed.id)).some((c) => c.state === 'RUNNING'),
      'the leaf child to run',
    );
    await h.engine.sweep();
    expect(live(await childrenOf(h.engine.sql, failed.id)).length).toBe(2);
    expect(live(await childrenOf(h.engine.sql, completed.id)).length).toBe(1);
    expect(await flagged(h.engine.sql)).toEqual([]);
    expect(await engineMetric(h, 'pushworker_child_runs_cancelled_total')).toBe(0);
  });

  it('stops what is left of the cascade when the cancelled parent is retried', async () => {
    h = await harness.start({ sweepIntervalMs: 3_600_000 });
    const sql = h.engine.sql;
    const now = Date.now();
    await insertRuns(sql, [{ id: 'again', task: 'cc.unserved', input: {} }], now);
    const [first, second] = unservedChildren('again', 2);
    await insertRuns(sql, [first!, second!], now);
    // Half-way through the cascade: the first child cancelled, the second not yet, the parent still flagged.
    const error = {
      message: 'its parent run again was cancelled',
      name: 'ParentCancelled',
      retryable: false,
    };
    await sql.query(
      `UPDATE pw_runs SET state = 'CANCELLED', finished_at = $2, error = $3::jsonb WHERE id = $1`,
      [first!.id, now, json(error)],
    );
    await sql.query(
      `UPDATE pw_runs SET state = 'CANCELLED', finished_at = $2, cancel_children = true WHERE id = $1`,
      ['again', now],
    );

    expect((await h.client.retryRun('again')).state).toBe('QUEUED');
    expect(await flagged(sql)).toEqual([]);
    await h.engine.sweep();
    const rows = await childrenOf(sql, 'again');
    expect(rows.map((r) => r.state)).toEqual(['CANCELLED', 'QUEUED']);
    expect(await engineMetric(h, 'pushworker_child_runs_cancelled_total')).toBe(0);
  });

  it('cascades from a run cancelled by the CANCEL_IN_PROGRESS strategy, and from a cancelled workflow run', async () => {
    h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
    const keyed = task({
      name: 'cc.keyed',
      input: z.object({}),
      concurrency: { key: 'one-at-a-time', limit: 1, strategy: 'CANCEL_IN_PROGRESS' },
      run: async (_input, ctx) => {
        await ctx.spawn(unserved, {}, { key: 'child' });
        return untilStopped(undefined, ctx);
      },
    });
    const step = task({
      name: 'cc.workflow-step',
      input: z.unknown(),
      run: async (_input, ctx) => {
        for (const key of ['x', 'y']) await ctx.spawn(unserved, {}, { key });
        return untilStopped(undefined, ctx);
      },
    });
    await h.addWorker('family', {
      tasks: [keyed],
      workflows: [workflow({ name: 'cc.flow', tasks: [step] })],
    });
    const first = await h.client.enqueue({ task: 'cc.keyed', input: {} });
    await until(async () => (await childrenOf(h.engine.sql, first.id)).length === 1, 'the first child');
    await h.client.enqueue({ task: 'cc.keyed', input: {} });
    // The enqueue does not wait for the cascade: it follows.
    await until(
      async () => live(await childrenOf(h.engine.sql, first.id)).length === 0,
      'the cancelled run to lose its child',
    );
    expectCancelledBy(await childrenOf(h.engine.sql, first.id), first.id);

    const flow = await h.client.runWorkflow({ workflow: 'cc.flow', input: {} });
    const stepRun = await until(async () => {
      const rows = await h.engine.sql.query<{ id: string }>(
        'SELECT id FROM pw_runs WHERE workflow_run_id = $1',
        [flow.id],
      );
      const id = rows[0]?.id;
      return id && (await childrenOf(h.engine.sql, id)).length === 2 ? id : undefined;
    }, "the workflow step's two children");
    expect((await h.client.cancelWorkflowRun(flow.id)).state).toBe('CANCELLED');
    expectCancelledBy(await childrenOf(h.engine.sql, stepRun), stepRun);
    expect(await engineMetric(h, 'pushworker_child_runs_cancelled_total')).toBe(3);
  });
});
