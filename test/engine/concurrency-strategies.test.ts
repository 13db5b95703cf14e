import { describe, expect, it } from 'vitest';
import { claimRuns } from '../../src/engine/store/claims.ts';
import { applyCancellingStrategies } from '../../src/engine/store/concurrency.ts';
import type { Sql } from '../../src/engine/store/index.ts';
import { getRun, insertRuns, type NewRun } from '../../src/engine/store/runs.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';
import type { ConcurrencyStrategy } from '../../src/protocol/schemas.ts';
import { storePerTest, storeTargets } from './support/postgres.ts';

const targets = storeTargets('pw_concurrency_strategy_suite');
const job = { name: 'job', inputSchema: {}, timeoutMs: 1000, retries: 0, slotCost: 1 };

describe.each(targets)('concurrency strategies on $name', ({ open }) => {
  let sql!: Sql;
  storePerTest(open, (opened) => {
    sql = opened;
  });

  const addWorker = (name: string, slots: number) =>
    upsertWorker(
      sql,
      { name, url: `http://127.0.0.1/${name}`, slots, labels: {}, tasks: [job] },
      'registered',
      1,
    );
  const runsOf = (key: string, n: number, strategy?: ConcurrencyStrategy, limit = 100): NewRun[] =>
    Array.from({ length: n }, (_, i) => ({
      id: `${key}${i}`,
      task: 'job',
      input: i,
      concurrencyKey: key,
      concurrencyLimit: limit,
      concurrencyStrategy: strategy,
    }));
  /** Claims one run at a time on a one-slot worker, finishing each before the next claim: the start order. */
  const startOrder = async (count: number) => {
    const w = await addWorker('one', 1);
    const order: string[] = [];
    for (let now = 10; order.length < count; now++) {
      const { runs } = await claimRuns(sql, { workerId: w.id, max: 1, now, leaseMs: 10_000 });
      if (runs.length === 0) break;
      order.push(...runs.map((r) => r.id));
      await sql.query(`UPDATE pw_runs SET state = 'COMPLETED', finished_at = $2 WHERE id = ANY($1::text[])`, [
        runs.map((r) => r.id),
        now,
      ]);
    }
    return order;
  };

  it('takes the runs of round-robin keys in turn: a deep queue of one key does not keep another waiting', async () => {
    await insertRuns(sql, runsOf('a', 8, 'GROUP_ROUND_ROBIN'), 1);
    await insertRuns(sql, runsOf('b', 3, 'GROUP_ROUND_ROBIN'), 1);
    expect(await startOrder(11)).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2', 'a3', 'a4', 'a5', 'a6', 'a7']);
  });

  it('takes turns within one claim too', async () => {
    const w = await addWorker('wide', 4);
    await insertRuns(sql, runsOf('a', 8, 'GROUP_ROUND_ROBIN'), 1);
    await insertRuns(sql, runsOf('b', 3, 'GROUP_ROUND_ROBIN'), 1);
    const { runs } = await claimRuns(sql, { workerId: w.id, max: 4, now: 10, leaseMs: 10_000 });
    expect(runs.map((r) => r.id)).toEqual(['a0', 'b0', 'a1', 'b1']);
  });

  it('keeps queue order across keys without a strategy, as before strategies', async () => {
    await insertRuns(sql, runsOf('a', 4), 1);
    await insertRuns(sql, runsOf('b', 2), 1);
    expect(await startOrder(6)).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1']);
  });

  it('holds each round-robin key to its limit while taking turns', async () => {
    const w = await addWorker('wide', 10);
    await insertRuns(sql, runsOf('a', 5, 'GROUP_ROUND_ROBIN', 2), 1);
    await insertRuns(sql, runsOf('b', 5, 'GROUP_ROUND_ROBIN', 1), 1);
    const { runs } = await claimRuns(sql, { workerId: w.id, max: 10, now: 10, leaseMs: 10_000 });
    expect(runs.map((r) => r.id)).toEqual(['a0', 'b0', 'a1']);
  });

  it('CANCEL_NEWEST cancels the new run over the limit and keeps the ones before it', async () => {
    const w = await addWorker('w', 4);
    await insertRuns(sql, runsOf('k', 1, 'CANCEL_NEWEST', 1), 1);
    await claimRuns(sql, { workerId: w.id, max: 4, now: 10, leaseMs: 10_000 });
    await insertRuns(sql, [{ ...runsOf('k', 1, 'CANCEL_NEWEST', 1)[0]!, id: 'k-new' }], 11);
    const outcomes = await applyCancellingStrategies(
      sql,
      [{ key: 'k', limit: 1, strategy: 'CANCEL_NEWEST' }],
      12,
    );
    expect(outcomes.map((o) => [o.run.id, o.run.state, o.notify])).toEqual([
      ['k-new', 'CANCELLED', undefined],
    ]);
    expect(outcomes[0]!.run.error?.message).toContain('CANCEL_NEWEST');
    expect((await getRun(sql, 'k0'))!.state).toBe('ASSIGNED');
  });

  it('CANCEL_IN_PROGRESS cancels the oldest run of the key, and says which worker must stop it', async () => {
    const w = await addWorker('w', 4);
    await insertRuns(sql, runsOf('k', 1, 'CANCEL_IN_PROGRESS', 1), 1);
    await claimRuns(sql, { workerId: w.id, max: 4, now: 10, leaseMs: 10_000 });
    await insertRuns(sql, [{ ...runsOf('k', 1, 'CANCEL_IN_PROGRESS', 1)[0]!, id: 'k-new' }], 11);
    const outcomes = await applyCancellingStrategies(
      sql,
      [{ key: 'k', limit: 1, strategy: 'CANCEL_IN_PROGRESS' }],
      12,
    );
    expect(outcomes.map((o) => [o.run.id, o.run.state, o.notify])).toEqual([
      ['k0', 'CANCELLED', { workerId: w.id, attempt: 1 }],
    ]);
    expect((await getRun(sql, 'k-new'))!.state).toBe('QUEUED');
    const [attempt] = await sql.query(`SELECT outcome FROM pw_attempts WHERE run_id = 'k0'`);
    expect(attempt).toMatchObject({ outcome: 'cancelled' });
  });

  it('leaves a key within its limit alone', async () => {
    await insertRuns(sql, runsOf('k', 2, 'CANCEL_NEWEST', 2), 1);
    expect(
      await applyCancellingStrategies(sql, [{ key: 'k', limit: 2, strategy: 'CANCEL_NEWEST' }], 12),
    ).toEqual([]);
  });
});
