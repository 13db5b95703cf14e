// A store grown to many finished runs: the queries that run often (stats, the runs gauge, the run list with each
// filter, the console's charts, the bulk retry, claims, the sweeper's, a cancel and its cascade to child runs)
// answer as before and read through indexes, never every run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelChildrenOfCancelled } from '../../src/engine/store/child-runs.ts';
import { CLAIM_HEAD, CLAIM_HEAD_CHECKED } from '../../src/engine/store/claims/head.ts';
import { claimRuns } from '../../src/engine/store/claims.ts';
import { nextDueAt } from '../../src/engine/store/due.ts';
import { applyEventPosts } from '../../src/engine/store/events.ts';
import { expireQueuedRuns } from '../../src/engine/store/expiry.ts';
import type { Sql } from '../../src/engine/store/index.ts';
import { StoreUpkeep, UPKEEP_POLICY } from '../../src/engine/store/maintenance.ts';
import { recordQueueSample } from '../../src/engine/store/queue-samples.ts';
import { deleteExpiredRuns } from '../../src/engine/store/retention.ts';
import { retryRuns } from '../../src/engine/store/retries.ts';
import { rollUpRunSeconds } from '../../src/engine/store/run-seconds.ts';
import { runSeries } from '../../src/engine/store/run-series.ts';
import {
  cancelRun,
  countLiveRunsByState,
  getRun,
  insertRuns,
  listRuns,
  taskStats,
} from '../../src/engine/store/runs.ts';
import { expireDeadlines, findLostRuns } from '../../src/engine/store/transitions.ts';
import { listWorkers, upsertWorker } from '../../src/engine/store/workers.ts';
import { type Explained, explainingStore, scansWhole } from '../support/explain.ts';
import { RARE_SEEDED_TASK, SEEDED_WORKER, seedFinishedRuns } from '../support/finished-runs.ts';
import { storeTargets } from './support/postgres.ts';

const FINISHED = 30_000;
/** Runs enqueued due now at once, well past where the old index of queued runs by due time took the claim. */
const BURST = 10_000;
const t0 = Date.now();
const task = { name: 'live', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };

describe.each(storeTargets('pw_grown'))('a store grown to $name', ({ open }) => {
  let sql: Sql;
  let workerId: string;

  beforeAll(async () => {
    sql = await open();
    await seedFinishedRuns(sql, FINISHED, t0);
    const worker = await upsertWorker(
      sql,
      { name: 'live-worker', url: 'http://127.0.0.1/live', slots: 4, labels: {}, tasks: [task] },
      'registered',
      t0,
    );
    workerId = worker.id;
    // Ten live runs: four claimed (two of them started), six queued.
    await insertRuns(
      sql,
      Array.from({ length: 10 }, (_, i) => ({ id: `live-${i}`, task: 'live', input: i })),
      t0,
    );
    await claimRuns(sql, { workerId, max: 4, now: t0, leaseMs: 60_000 });
    const at = new Date(t0).toISOString();
    await applyEventPosts(
      sql,
      [
        {
          workerName: 'live-worker',
          events: ['live-0', 'live-1'].map((runId) => ({ runId, attempt: 1, at, type: 'started' as const })),
        },
      ],
      { now: t0, leaseMs: 60_000, retry: { baseMs: 10, maxMs: 100 } },
    );
    // The statistics a planner has: the engine's own upkeep on the embedded store, autovacuum's on Postgres.
    const upkept = await new StoreUpkeep(sql, t0).afterSweep(t0 + UPKEEP_POLICY.maxIntervalMs, 0);
    if (!upkept) await sql.exec('ANALYZE pw_runs; ANALYZE pw_attempts');
  }, 120_000);
  afterAll(async () => {
    await sql.close();
  });

  it('answers as it did on a small store', async () => {
    expect(await countLiveRunsByState(sql)).toEqual({ QUEUED: 6, ASSIGNED: 2, RUNNING: 2 });
    expect(await taskStats(sql, t0)).toEqual([
      { task: 'live', queued: 6, ready: 6, scheduled: 0, assigned: 2, running: 2 },
    ]);
    const newest = await listRuns(sql, { limit: 12 });
    expect(newest.map((r) => r.id)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `live-${9 - i}`),
      `seeded_${FINISHED - 1}`,
      `seeded_${FINISHED - 2}`,
    ]);
    // Every run of the rare task, a page at a time, newest first and each once.
    const rare: string[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await listRuns(sql, { limit: 70, task: RARE_SEEDED_TASK, beforeSeq: before });
      rare.push(...page.map((r) => r.id));
      if (page.length < 70) break;
      before = page[page.length - 1]!.seq;
    }
    expect(rare).toEqual(
      Array.from({ length: FINISHED / 100 }, (_, i) => `seeded_${FINISHED - 50 - 100 * i}`),
    );
    const failedOrCancelled = await listRuns(sql, { limit: 3, states: ['FAILED', 'CANCELLED', 'FAILED'] });
    expect(failedOrCancelled.map((r) => [r.id, r.state])).toEqual([
      [`seeded_${FINISHED - 1}`, 'CANCELLED'],
      [`seeded_${FINISHED - 2}`, 'FAILED'],
      [`seeded_${FINISHED - 3}`, 'FAILED'],
    ]);
    const onWorker = await listRuns(sql, { limit: 50, workerId, states: ['RUNNING', 'ASSIGNED'] });
    expect(onWorker.map((r) => r.id)).toEqual(['live-3', 'live-2', 'live-1', 'live-0']);
    expect(await listRuns(sql, { limit: 5, workerId: SEEDED_WORKER, task: 'live' })).toEqual([]);
  });

  it('retries the oldest finished runs a filter selects', async () => {
    const retried = await retryRuns(sql, { states: ['COMPLETED'], task: RARE_SEEDED_TASK, limit: 2 }, t0 + 1);
    expect(retried.map((r) => r.id).sort()).toEqual(['seeded_150', 'seeded_50']);
    expect((await getRun(sql, 'seeded_50'))?.state).toBe('QUEUED');
    const any = await retryRuns(sql, { states: ['CANCELLED', 'FAILED'], limit: 3 }, t0 + 1);
    expect(any.map((r) => r.id).sort()).toEqual(['seeded_90', 'seeded_91', 'seeded_92']);
  });
  it('reads the queries that run often through indexes, never by a scan of every run', async () => {
    const plans: Explained[] = [];
    const x = explainingStore(sql, plans);
    await taskStats(x, t0);
    await countLiveRunsByState(x);
    await listRuns(x, { limit: 50 });
    await listRuns(x, { limit: 50, beforeSeq: 100 });
    await listRuns(x, { limit: 50, states: ['QUEUED'] });
    await listRuns(x, { limit: 50, states: ['FAILED', 'CANCELLED'] });
    await listRuns(x, { limit: 50, task: RARE_SEEDED_TASK });
    await listRuns(x, { limit: 50, task: 'live', states: ['RUNNING'] });
    await listRuns(x, { limit: 50, workerId });
    await listRuns(x, { limit: 50, workerId: SEEDED_WORKER, states: ['QUEUED'] });
    await listRuns(x, { limit: 50, workerId: SEEDED_WORKER, task: RARE_SEEDED_TASK });
    await listRuns(x, { limit: 50, metadata: { key: 'region', value: '7' } });
    await listRuns(x, { limit: 50, createdAfter: t0 - 1000, createdBefore: t0 - 500 });
    await listRuns(x, { limit: 50, task: RARE_SEEDED_TASK, createdAfter: t0 + 1 });
    await runSeries(x, { now: t0 + 2 * 3600_000, minutes: 15 });
    // a span of the last second of the seeded runs: the roll-up reads it alone
    await rollUpRunSeconds(x, t0 + 3600_000 + 9_000);
    await recordQueueSample(x, t0);
    await listWorkers(x);
    await findLostRuns(x, t0);
    await expireDeadlines(x, t0, { baseMs: 10, maxMs: 100 });
    await deleteExpiredRuns(x, { before: t0 - 1, batchSize: 1000, maxStatements: 1 });
    await insertRuns(x, [{ id: 'late', task: 'live', input: 0 }], t0);
    await claimRuns(x, { workerId, max: 1, now: t0, leaseMs: 60_000 });
    await retryRuns(x, { states: ['COMPLETED'], task: RARE_SEEDED_TASK, limit: 2 }, t0);
    await retryRuns(x, { states: ['CANCELLED'], limit: 1 }, t0);
    // A cancel that finds live children, flags its run, and the cascade's batch that cancels them.
    await insertRuns(x, [{ id: 'parent', task: 'live', input: 0 }], t0);
    await insertRuns(x, [{ id: 'child', task: 'live', input: 0, parentRunId: 'parent' }], t0);
    expect((await cancelRun(x, 'parent', t0))?.run.cancelChildren).toBe(true);
    expect((await cancelChildrenOfCancelled(x, t0)).cancelled.map((c) => c.run.id)).toEqual(['child']);
    expect(plans.length).toBeGreaterThanOrEqual(34);
    const scanning = plans.filter((p) => scansWhole(p.plan, 'pw_runs'));
    expect(scanning, scanning.map((p) => `${p.text}\n${p.plan}`).join('\n\n')).toEqual([]);
  });

  // Statistics taken with a hundred runs queued, then a burst of enqueues due now that they have not seen. While
  // the index of queued runs by due time held the runs due now, the planner read it for this claim (every queued
  // run due, then a sort) instead of the head of the task's queue, on both stores, from about 3,000 runs in the
  // burst (with fewer than ten queued at the ANALYZE it kept its own index).
  it('claims through its own index after a burst of enqueues due now, finds a delayed run and the expired ones by theirs', async () => {
    const at = t0 + 10;
    const enqueue = async (prefix: string, n: number) => {
      for (let from = 0; from < n; from += 1000) {
        const runs = Array.from({ length: Math.min(1000, n - from) }, (_, i) => ({
          id: `${prefix}-${from + i}`,
          task: 'live',
          input: i,
        }));
        await insertRuns(sql, runs, at);
      }
    };
    await enqueue('steady', 100);
    await sql.exec('ANALYZE pw_runs');
    await enqueue('burst', BURST);
    await insertRuns(sql, [{ id: 'delayed', task: 'live', input: 0, availableAt: at + 60_000 }], at);
    const burstWorker = await upsertWorker(
      sql,
      { name: 'burst-worker', url: 'http://127.0.0.1/burst', slots: 2, labels: {}, tasks: [task] },
      'registered',
      at,
    );
    const plans: Explained[] = [];
    const x = explainingStore(sql, plans);
    // As the dispatcher claims: up to its batch (PUSHWORKER_BATCH_SIZE, 100), the worker's free slots taken.
    const claimed = await claimRuns(x, { workerId: burstWorker.id, max: 100, now: at + 1, leaseMs: 60_000 });
    expect(claimed.runs.map((r) => r.id)).toEqual(['live-4', 'live-5']);
    expect(await nextDueAt(x, at + 1)).toBe(at + 60_000);
    expect(await expireQueuedRuns(x, at + 1)).toEqual([]);

    const claim = plans.find((p) => p.text === CLAIM_HEAD || p.text === CLAIM_HEAD_CHECKED);
    expect(claim?.plan).toContain('pw_runs_queued_by_task');
    expect(claim?.plan).not.toMatch(/pw_runs_queued_(due|later)/);
    const due = plans.find((p) => p.text.includes('least('));
    expect(due?.plan).toContain('pw_runs_queued_later');
    const expiry = plans.find((p) => p.text.includes('expires_at <='));
    expect(expiry?.plan).toContain('pw_runs_queued_expiry');
  }, 60_000);
});
