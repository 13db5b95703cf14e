// Opening a store: PGlite (data directory or memory) or Postgres, migrated to the current schema.
import { importPeer } from '../../optional-peer.ts';
import { migrate } from './migrations.ts';
import { openPglite } from './pglite.ts';
import type { Sql } from './sql.ts';

export interface StoreOptions {
  /** Postgres connection string; when set the server store is used. */
  databaseUrl?: string | undefined;
  /** PGlite data directory; in memory when neither this nor `databaseUrl` is set. */
  dataDir?: string | undefined;
  /** Pool size for Postgres. */
  poolSize?: number | undefined;
}

export async function openStore(options: StoreOptions = {}): Promise<Sql> {
  const sql = options.databaseUrl
    ? await openServerStore(options.databaseUrl, options.poolSize)
    : await openPglite(options.dataDir);
  try {
    await migrate(sql);
  } catch (error) {
    await sql.close();
    throw error;
  }
  return sql;
}

/** The Postgres driver is loaded only by engines that use it, so the embedded store needs no `pg` install. */
async function openServerStore(connectionString: string, max: number | undefined): Promise<Sql> {
  const { openPostgres } = await importPeer('pg', 'a Postgres store', () => import('./postgres.ts'));
  return openPostgres({ connectionString, max });
}

/** Empties every table (tests reuse one database between cases). */
export async function truncateAll(sql: Sql): Promise<void> {
  await sql.query(`TRUNCATE pw_run_logs, pw_attempts, pw_runs, pw_workers, pw_sticky, pw_keys, pw_tokens, pw_rate_limits,
    pw_rate_limit_windows, pw_schedules, pw_events, pw_workflow_runs, pw_queue_samples, pw_run_seconds`);
  await sql.query('UPDATE pw_run_seconds_mark SET through = 0');
}

export type { Sql, SqlClient } from './sql.ts';
