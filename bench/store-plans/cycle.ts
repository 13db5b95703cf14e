// The bench-like cycle the plans are read from: enqueue a batch, claim it, start and complete it, and the
// sweeper's and the dispatcher's reads; first, a backlog of queued runs when one is asked for.
import { newRunId } from '../../src/engine/ids.ts';
import { claimRuns } from '../../src/engine/store/claims.ts';
import { nextDueAt } from '../../src/engine/store/due.ts';
import { applyEventPosts } from '../../src/engine/store/events.ts';
import { expireQueuedRuns } from '../../src/engine/store/expiry.ts';
import type { Sql } from '../../src/engine/store/index.ts';
import { deleteExpiredRuns } from '../../src/engine/store/retention.ts';
import { countLiveRunsByState, insertRuns, taskStats } from '../../src/engine/store/runs.ts';
import { expireDeadlines, findLostRuns } from '../../src/engine/store/transitions.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';

export const BATCH = 256;
export const TASK = 'bench';
export const WORKER = 'plans-worker';
const retry = { baseMs: 10, maxMs: 100 };
const task = { name: TASK, inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };

const runsOf = (n: number, now: number) =>
  Array.from({ length: n }, (_, i) => ({ id: newRunId(now), task: TASK, input: { message: 'x', i } }));

/** The worker the cycles claim for, with room for one batch. */
export async function benchWorker(sql: Sql): Promise<string> {
  const worker = await upsertWorker(
    sql,
    { name: WORKER, url: 'http://127.0.0.1/plans', slots: BATCH, labels: {}, tasks: [task] },
    'registered',
    Date.now(),
  );
  return worker.id;
}

/**
 * `n` runs queued due now, before the cycles: each cycle's claim then takes the oldest batch and its enqueue
 * puts one at the back, so that `n` stay queued through the measurement.
 */
export async function queueBacklog(sql: Sql, n: number): Promise<void> {
  for (let done = 0; done < n; done += 5_000)
    await insertRuns(sql, runsOf(Math.min(5_000, n - done), Date.now()), Date.now());
}

/** One cycle through `sql`, for the worker `workerId`. */
export async function cycle(sql: Sql, workerId: string): Promise<void> {
  const now = Date.now();
  await insertRuns(sql, runsOf(BATCH, now), now);
  await nextDueAt(sql, now);
  const { runs } = await claimRuns(sql, { workerId, max: BATCH, now, leaseMs: 60_000 });
  const at = new Date(now).toISOString();
  const o = { now, leaseMs: 60_000, retry };
  for (const type of ['started', 'completed'] as const) {
    const events = runs.map((r) => ({
      runId: r.id,
      attempt: r.attempt,
      at,
      type,
      ...(type === 'completed' ? { output: { message: 'x' } } : {}),
    }));
    // As the engine's group commit does: many requests' posts in one batch.
    await applyEventPosts(sql, [{ workerName: WORKER, events: events as never }], o);
  }
  await findLostRuns(sql, now);
  await expireDeadlines(sql, now, retry);
  await expireQueuedRuns(sql, now);
  await deleteExpiredRuns(sql, { before: now - 7 * 86_400_000, batchSize: 1000, maxStatements: 1 });
  await taskStats(sql, now);
  await countLiveRunsByState(sql);
}
