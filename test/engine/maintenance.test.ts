// Upkeep of the embedded store: VACUUM and ANALYZE of the runs tables after large deletes and at a bounded interval;
// none on Postgres, whose autovacuum does it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../../src/engine/store/index.ts';
import { StoreUpkeep, UPKEEP_POLICY } from '../../src/engine/store/maintenance.ts';
import { deleteExpiredRuns } from '../../src/engine/store/retention.ts';
import { seedFinishedRuns } from '../support/finished-runs.ts';
import { storeTargets } from './support/postgres.ts';

const targets = storeTargets('pw_maintenance');
const { minIntervalMs, maxIntervalMs, afterDeletedRows, analyzeMinIntervalMs } = UPKEEP_POLICY;

/** What the planner believes the runs table holds. */
async function plannedRuns(sql: Sql): Promise<number> {
  const [row] = await sql.query<{ n: number }>(
    `SELECT reltuples::int AS n FROM pg_class WHERE relname = 'pw_runs' AND relnamespace = to_regnamespace(current_schema())`,
  );
  return row!.n;
}

describe.each(targets.filter((t) => t.name === 'PGlite'))('upkeep of the embedded store', ({ open }) => {
  let sql: Sql;
  beforeAll(async () => {
    sql = await open();
  });
  afterAll(async () => {
    await sql.close();
  });

  it('refreshes the statistics after a large delete, at most once in the least interval', async () => {
    const t0 = 1_000_000;
    const upkeep = new StoreUpkeep(sql, t0);
    await seedFinishedRuns(sql, afterDeletedRows + 500, t0);
    expect(await upkeep.afterSweep(t0 + maxIntervalMs, 0)).toBe(true);
    expect(await plannedRuns(sql)).toBe(afterDeletedRows + 500);

    const deleted = await deleteExpiredRuns(sql, {
      before: t0 + 1,
      batchSize: afterDeletedRows,
      maxStatements: 1,
    });
    expect(deleted).toBe(afterDeletedRows);
    const at = t0 + maxIntervalMs + 1;
    // Enough rows deleted, but too soon after the last upkeep.
    expect(await upkeep.afterSweep(at, deleted)).toBe(false);
    expect(await plannedRuns(sql)).toBe(afterDeletedRows + 500);
    expect(await upkeep.afterSweep(t0 + maxIntervalMs + minIntervalMs, 0)).toBe(true);
    expect(await plannedRuns(sql)).toBe(500);
    // Nothing deleted since: due again only after the longest interval.
    expect(await upkeep.afterSweep(t0 + maxIntervalMs + 2 * minIntervalMs, afterDeletedRows - 1)).toBe(false);
    expect(await upkeep.afterSweep(t0 + 2 * maxIntervalMs + minIntervalMs, 0)).toBe(true);
  });

  it('has the tables that outgrew their statistics analyzed, no sooner than the least interval', async () => {
    // As a new store that grows: its statistics are of fewer runs than it comes to hold.
    await sql.query('DELETE FROM pw_runs');
    const t0 = 1_000_000;
    const upkeep = new StoreUpkeep(sql, t0);
    await seedFinishedRuns(sql, 5_000, t0);
    expect(await upkeep.afterSweep(t0 + analyzeMinIntervalMs - 1, 0)).toBe(false);
    expect(await plannedRuns(sql)).toBeLessThan(5_000);
    expect(await upkeep.afterSweep(t0 + analyzeMinIntervalMs, 0)).toBe(true);
    expect(await plannedRuns(sql)).toBe(5_000);
    // Nothing changed since: nothing to analyze, however long after.
    expect(await upkeep.afterSweep(t0 + 3 * analyzeMinIntervalMs, 0)).toBe(false);
    // Changed rows (deleted ones here) count once over 50 and a tenth of those left: 495 of 4,505 do not, 505 of
    // 4,495 do.
    const remove = (n: number) =>
      sql.query(`DELETE FROM pw_runs WHERE id IN (SELECT id FROM pw_runs ORDER BY id LIMIT ${n})`);
    await remove(495);
    expect(await upkeep.afterSweep(t0 + 4 * analyzeMinIntervalMs, 0)).toBe(false);
    await remove(10);
    expect(await upkeep.afterSweep(t0 + 5 * analyzeMinIntervalMs, 0)).toBe(true);
    expect(await plannedRuns(sql)).toBe(4_495);
  });
});

describe.each(targets.filter((t) => t.name === 'Postgres'))('upkeep on Postgres', ({ open }) => {
  it('is left to autovacuum', async () => {
    const sql = await open();
    try {
      const upkeep = new StoreUpkeep(sql, 0);
      expect(await upkeep.afterSweep(10 * maxIntervalMs, 10 * afterDeletedRows)).toBe(false);
      const [row] = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_user_tables
         WHERE schemaname = current_schema() AND last_vacuum IS NOT NULL`,
      );
      expect(row?.n).toBe(0);
    } finally {
      await sql.close();
    }
  });
});
