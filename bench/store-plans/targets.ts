// The stores measured: the embedded one (PGlite on disk) and Postgres, each empty and grown to many finished
// runs. The grown data is seeded once and kept (PLANS_DIR, a schema of its own), and opened with this tree's
// migrations: seeded by an older tree and measured by a newer, it is measured migrated.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore, type Sql } from '../../src/engine/store/index.ts';
import { StoreUpkeep, UPKEEP_POLICY } from '../../src/engine/store/maintenance.ts';
import { migrate } from '../../src/engine/store/migrations.ts';
import { openPglite } from '../../src/engine/store/pglite.ts';
import { seedFinishedRuns } from '../../test/support/finished-runs.ts';

export interface Target {
  name: string;
  empty(): Promise<Sql>;
  grown(): Promise<Sql>;
}

/** The statistics a planner has: the engine's own upkeep, or an ANALYZE where it finds none due. */
export async function upkeep(sql: Sql): Promise<void> {
  const upkept = await new StoreUpkeep(sql, 0).afterSweep(UPKEEP_POLICY.maxIntervalMs, 0);
  if (!upkept) for (const table of ['pw_runs', 'pw_attempts']) await sql.exec(`VACUUM (ANALYZE) ${table}`);
}

/**
 * `settings` (`name=value` pairs) go to the embedded store's configuration after its own: e.g.
 * `shared_buffers=128MB` to see what the store's small buffers cost.
 */
export function embedded(grownRuns: number, settings: string[], baseDir: string | undefined): Target {
  const base = baseDir ?? join(tmpdir(), `pushworker-plans-${grownRuns}`);
  const copies: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushworker-plans-'));
    copies.push(dir);
    return dir;
  };
  process.on('exit', () => {
    for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  });
  const open = async (dir: string) => {
    const sql = await openPglite(dir, settings);
    await migrate(sql);
    return sql;
  };
  return {
    name: `embedded (PGlite on disk${settings.length ? `, ${settings.join(', ')}` : ''})`,
    empty: () => open(fresh()),
    async grown() {
      if (!existsSync(join(base, 'PG_VERSION'))) {
        const sql = await open(base);
        await seedFinishedRuns(sql, grownRuns, Date.now());
        await upkeep(sql);
        await sql.close();
      }
      // A copy, so that the seeded data is kept as it was seeded and this run's migrations and runs are not.
      const dir = fresh();
      cpSync(base, dir, { recursive: true });
      return open(dir);
    },
  };
}

export function postgres(grownRuns: number, databaseUrl: string): Target {
  const inSchema = async (schema: string, drop: boolean) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    if (drop) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.end();
    const url = new URL(databaseUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return openStore({ databaseUrl: url.toString() });
  };
  return {
    name: 'Postgres',
    empty: () => inSchema('pw_plans_empty', true),
    async grown() {
      // Seeded once and kept; each run's own runs are deleted again at its end (see measureOn).
      const sql = await inSchema(`pw_plans_grown_${grownRuns}`, false);
      const [row] = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM pw_runs`);
      if (row!.n < grownRuns) {
        await sql.exec('TRUNCATE pw_runs, pw_attempts CASCADE');
        await seedFinishedRuns(sql, grownRuns, Date.now());
      }
      await upkeep(sql);
      return sql;
    },
  };
}
