import { describe, expect, it } from 'vitest';
import { claimRuns } from '../../src/engine/store/claims.ts';
import { applyEventPosts } from '../../src/engine/store/events.ts';
import type { Sql } from '../../src/engine/store/index.ts';
import { migrate, SCHEMA_VERSION } from '../../src/engine/store/migrations.ts';
import { getRun, insertRuns } from '../../src/engine/store/runs.ts';
import { requeueRuns } from '../../src/engine/store/transitions.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';
import type { RunEvent } from '../../src/protocol/schemas.ts';
import { until } from '../support/until.ts';
import { storePerTest, storeTargets } from './support/postgres.ts';

const targets = storeTargets('pw_store_suite');
const retry = { baseMs: 10, maxMs: 100 };
const task = { name: 'job', inputSchema: {}, timeoutMs: 1000, retries: 1, slotCost: 1 };

describe.each(targets)('store on $name', ({ name, open }) => {
  let sql!: Sql;
  storePerTest(open, (opened) => {
    sql = opened;
  });

  const addWorker = (name: string, slots: number) =>
    upsertWorker(
      sql,
      { name, url: `http://127.0.0.1/${name}`, slots, labels: {}, tasks: [task] },
      'registered',
      1,
    );
  const applyEvents = async (
    events: RunEvent[],
    o: { workerName: string; now: number; leaseMs: number; retry: typeof retry },
  ) => {
    const out = await applyEventPosts(sql, [{ workerName: o.workerName, events }], o);
    const [post] = out.posts;
    if (!post || 'error' in post) throw post?.error;
    return { ...out, results: post.results };
  };
  const enqueue = (n: number, extra = {}) =>
    insertRuns(
      sql,
      Array.from({ length: n }, (_, i) => ({
        id: `r${String(i).padStart(4, '0')}`,
        task: 'job',
        input: i,
        ...extra,
      })),
      1,
    );

  it('applies its migrations once however often it is opened', async () => {
    await migrate(sql);
    await migrate(sql);
    const rows = await sql.query('SELECT count(*)::int AS n FROM pw_migrations');
    expect(rows[0]?.n).toBe(SCHEMA_VERSION);
  });

  it('rolls a failed transaction back, keeps other statements out of it, and stays usable', async () => {
    await enqueue(1);
    const failing = sql.transaction(async (tx) => {
      await tx.query(`UPDATE pw_runs SET priority = 7 WHERE id = 'r0000'`);
      await new Promise((r) => setTimeout(r, 20));
      await tx.query('SELECT * FROM no_such_table');
    });
    // Sent while the transaction is open: it must neither join it nor see its write.
    const outside = sql.query<{ priority: number }>(`SELECT priority FROM pw_runs WHERE id = 'r0000'`);
    await expect(failing).rejects.toMatchObject({ code: '42P01' });
    expect((await outside)[0]?.priority).toBe(0);
    expect((await getRun(sql, 'r0000'))?.priority).toBe(0);
    expect(await sql.transaction(async () => 'no statements')).toBe('no statements');
    await sql.transaction((tx) => tx.query(`UPDATE pw_runs SET priority = 3 WHERE id = 'r0000'`));
    expect((await getRun(sql, 'r0000'))?.priority).toBe(3);
  });

  it('claims in queue order within free slots, and leaves runs that need a choice to the full claim', async () => {
    const big = { name: 'big', inputSchema: {}, timeoutMs: 7000, retries: 3, slotCost: 3 };
    const w = await upsertWorker(
      sql,
      { name: 'a', url: 'http://127.0.0.1/a', slots: 6, labels: { zone: 'eu' }, tasks: [task, big] },
      'registered',
      1,
    );
    const run = (id: string, extra = {}) => ({ id, task: 'job', input: null, ...extra });
    const seen: string[] = [];
    const claim = () =>
      claimRuns(sql, {
        workerId: w.id,
        max: 10,
        now: 2,
        leaseMs: 1000,
        // Asked only about the runs the single statement leaves to the full claim; it refuses the sticky one.
        accept: (c) => {
          seen.push(c.id);
          return c.id !== 'sticky';
        },
      });

    await insertRuns(sql, [run('big1', { task: 'big' }), run('s1'), run('urgent', { priority: 5 })], 1);
    const first = await claim();
    expect(first.runs.map((r) => r.id)).toEqual(['urgent', 'big1', 's1']);
    expect(seen).toEqual([]);
    expect(first).toMatchObject({ used: 5, slots: 6 });
    expect(first.runs[1]).toMatchObject({ slotCost: 3, timeoutMs: 7000, retries: 3, attempt: 1 });
    expect(first.runs[0]).toMatchObject({ slotCost: 1, timeoutMs: 1000, retries: 1, state: 'ASSIGNED' });

    await insertRuns(
      sql,
      [
        run('sticky', { stickyKey: 'k' }),
        run('s2'),
        run('other-zone', { requiredLabels: { zone: 'us' } }),
        run('s3'),
        run('low', { priority: -1 }),
      ],
      1,
    );
    const second = await claim();
    expect(second.runs.map((r) => r.id)).toEqual(['s2']);
    expect(seen).toEqual(['sticky', 's2']);
    expect(second).toMatchObject({ used: 6, slots: 6 });
  });

  it('never assigns a run twice or beyond slots when claims race', async () => {
    const workers = await Promise.all(['a', 'b', 'c'].map((n) => addWorker(n, 10)));
    await enqueue(100);
    const claims = await Promise.all(
      workers.flatMap((w) =>
        Array.from({ length: 4 }, () => claimRuns(sql, { workerId: w.id, max: 50, now: 2, leaseMs: 1000 })),
      ),
    );
    const ids = claims.flatMap((c) => c.runs).map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(30);
    const perWorker = await sql.query<{ worker_id: string; n: number }>(
      `SELECT worker_id, count(*)::int AS n FROM pw_runs WHERE state = 'ASSIGNED' GROUP BY worker_id`,
    );
    expect(perWorker.map((p) => p.n)).toEqual([10, 10, 10]);
  });

  // Another replica's claim for the same worker commits after this claim's statement took its snapshot.
  it.skipIf(name !== 'Postgres')(
    'counts free slots afresh when another claim commits meanwhile',
    async () => {
      const w = await addWorker('a', 3);
      await enqueue(6);
      let commit!: () => void;
      const committing = new Promise<void>((resolve) => {
        commit = resolve;
      });
      let locked = false;
      const other = sql.transaction(async (tx) => {
        await tx.query('UPDATE pw_workers SET state = state WHERE id = $1', [w.id]);
        locked = true;
        await committing;
        await tx.query(
          `UPDATE pw_runs SET state = 'ASSIGNED', worker_id = $1, attempt = 1, slot_cost = 1
         WHERE id IN ('r0000', 'r0001', 'r0002')`,
          [w.id],
        );
      });
      await until(() => locked, 'the other claim holds the worker');
      const claim = claimRuns(sql, { workerId: w.id, max: 10, now: 2, leaseMs: 1000 });
      const waiting = async () =>
        (
          await sql.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
          )
        )[0]!.n > 0;
      await until(waiting, 'the claim waits for the worker row');
      commit();
      await other;
      expect((await claim).runs).toEqual([]);
      const assigned = await sql.query(`SELECT id FROM pw_runs WHERE state = 'ASSIGNED' ORDER BY id`);
      expect(assigned.map((r) => r.id)).toEqual(['r0000', 'r0001', 'r0002']);
    },
  );

  it('resolves a repeated idempotency key to the first run', async () => {
    const [first] = await insertRuns(sql, [{ id: 'x1', task: 'job', input: 1, idempotencyKey: 'k' }], 1);
    const [second] = await insertRuns(sql, [{ id: 'x2', task: 'job', input: 2, idempotencyKey: 'k' }], 2);
    expect(first?.created).toBe(true);
    expect(second).toMatchObject({ created: false, run: { id: 'x1', input: 1 } });
  });

  it('re-queues only runs still on the given attempt', async () => {
    const w = await addWorker('a', 5);
    await enqueue(2);
    const { runs: claimed } = await claimRuns(sql, { workerId: w.id, max: 5, now: 2, leaseMs: 1000 });
    const refs = claimed.map((r) => ({ runId: r.id, attempt: r.attempt }));
    const stale = [{ runId: refs[0]!.runId, attempt: 99 }];
    expect((await requeueRuns(sql, stale, { now: 3, maxDeliveries: 5, reason: 'test' })).requeued).toEqual(
      [],
    );
    expect(
      (await requeueRuns(sql, refs, { now: 3, maxDeliveries: 5, reason: 'test' })).requeued.sort(),
    ).toEqual(refs.map((r) => r.runId).sort());
  });

  it("records a run's start at the worker's time of its started event, kept within the attempt", async () => {
    const w = await addWorker('a', 5);
    await enqueue(3);
    await claimRuns(sql, { workerId: w.id, max: 3, now: 1_000, leaseMs: 60_000 });
    const started = (runId: string, at: number | string) => ({
      runId,
      attempt: 1,
      at: typeof at === 'number' ? new Date(at).toISOString() : at,
      type: 'started' as const,
    });
    // On time, a clock behind the assignment, a clock ahead of the engine, and a time that does not parse.
    const out = await applyEvents([started('r0000', 1_200), started('r0001', 500), started('r0002', 9_000)], {
      workerName: 'a',
      now: 2_000,
      leaseMs: 1000,
      retry,
    });
    expect(out.results).toEqual(['ok', 'ok', 'ok']);
    expect(out.ranFor).toEqual([]);
    const startOf = async (id: string) => (await getRun(sql, id))?.startedAt;
    expect([await startOf('r0000'), await startOf('r0001'), await startOf('r0002')]).toEqual([
      1_200, 1_000, 2_000,
    ]);
    await sql.query(`UPDATE pw_runs SET state = 'ASSIGNED', started_at = NULL WHERE id = 'r0000'`);
    await applyEvents([started('r0000', 'yesterday')], { workerName: 'a', now: 3_000, leaseMs: 1000, retry });
    expect(await startOf('r0000')).toBe(3_000);

    // A run's duration runs from the start so recorded to its end.
    const completed = (runId: string) => ({
      ...started(runId, 4_000),
      type: 'completed' as const,
      output: null,
    });
    const ends = await applyEvents([completed('r0000'), completed('r0001')], {
      workerName: 'a',
      now: 4_000,
      leaseMs: 1000,
      retry,
    });
    expect(ends.ranFor).toEqual([
      { task: 'job', ms: 1_000 },
      { task: 'job', ms: 3_000 },
    ]);
  });

  it('counts the first terminal event of the current attempt once and calls older attempts stale', async () => {
    const w = await addWorker('a', 5);
    await enqueue(1);
    await claimRuns(sql, { workerId: w.id, max: 1, now: 2, leaseMs: 1000 });
    const at = new Date().toISOString();
    const failed = {
      runId: 'r0000',
      attempt: 1,
      at,
      type: 'failed' as const,
      error: { message: 'x', name: 'E', retryable: true },
    };
    const first = await applyEvents([failed, failed], { workerName: 'a', now: 3, leaseMs: 1000, retry });
    expect(first.results).toEqual(['ok', 'ok']);
    expect(await getRun(sql, 'r0000')).toMatchObject({ state: 'QUEUED', failures: 1 });
    await sql.query('UPDATE pw_runs SET available_at = 0');
    await claimRuns(sql, { workerId: w.id, max: 1, now: 1_000_000, leaseMs: 1000 });
    const late = await applyEvents([{ ...failed, type: 'heartbeat' }], {
      workerName: 'a',
      now: 4,
      leaseMs: 1000,
      retry,
    });
    expect(late.results).toEqual(['stale']);
    const done = await applyEvents([{ runId: 'r0000', attempt: 2, at, type: 'completed', output: 42 }], {
      workerName: 'a',
      now: 5,
      leaseMs: 1000,
      retry,
    });
    expect(done.finished).toEqual(['r0000']);
    expect(await getRun(sql, 'r0000')).toMatchObject({ state: 'COMPLETED', output: 42, attempt: 2 });
  });

  describe('when runs change between the read of an event batch and its write', () => {
    const at = new Date().toISOString();
    const completed = (runId: string) => ({
      runId,
      attempt: 1,
      at,
      type: 'completed' as const,
      output: runId,
    });
    /** The store, with `changes` made by "another writer" right after each unlocked read of an event batch. */
    const racing = (changes: string[], reads: string[]): Sql =>
      ({
        kind: sql.kind,
        query: async (text: string, params?: unknown[]) => {
          const rows = await sql.query(text, params);
          if (text.includes('AS version')) {
            reads.push(text.includes('FOR UPDATE') ? 'locked' : 'read');
            const change = changes.shift();
            if (change) await sql.query(change);
          }
          return rows;
        },
        transaction: (fn) =>
          sql.transaction((tx) =>
            fn({
              query: async (text: string, params?: unknown[]) => {
                if (text.includes('AS version')) reads.push(text.includes('FOR UPDATE') ? 'locked' : 'read');
                return tx.query(text, params);
              },
            } as Sql),
          ),
      }) as Sql;
    const setUp = async () => {
      const w = await addWorker('a', 5);
      await enqueue(2);
      await claimRuns(sql, { workerId: w.id, max: 2, now: 2, leaseMs: 1000 });
    };
    const apply = (store: Sql) =>
      applyEventPosts(store, [{ workerName: 'a', events: [completed('r0000'), completed('r0001')] }], {
        now: 5,
        leaseMs: 1000,
        retry,
      });

    it('writes nothing, reads again and applies the events to the runs as they are now', async () => {
      await setUp();
      const reads: string[] = [];
      const cancel = `UPDATE pw_runs SET state = 'CANCELLED', finished_at = 4 WHERE id = 'r0000'`;
      const out = await apply(racing([cancel], reads));
      expect(reads).toEqual(['read', 'read']);
      expect(out.rereads).toBe(1);
      expect(out.posts).toEqual([{ results: ['stale', 'ok'] }]);
      expect(out.finished).toEqual(['r0001']);
      expect([...out.freed]).toEqual([[expect.any(String), 1]]);
      expect(await getRun(sql, 'r0000')).toMatchObject({ state: 'CANCELLED', output: null, finishedAt: 4 });
      expect(await getRun(sql, 'r0001')).toMatchObject({
        state: 'COMPLETED',
        output: 'r0001',
        finishedAt: 5,
      });
    });

    it('locks the runs when they keep changing', async () => {
      await setUp();
      const reads: string[] = [];
      const touch = `UPDATE pw_runs SET priority = priority WHERE id = 'r0001'`;
      const out = await apply(racing([touch, touch, touch], reads));
      expect(reads).toEqual(['read', 'read', 'read', 'locked']);
      expect(out.rereads).toBe(3);
      expect(out.posts).toEqual([{ results: ['ok', 'ok'] }]);
      expect(out.finished.sort()).toEqual(['r0000', 'r0001']);
      for (const id of ['r0000', 'r0001'])
        expect(await getRun(sql, id)).toMatchObject({ state: 'COMPLETED', output: id });
    });
  });
});
