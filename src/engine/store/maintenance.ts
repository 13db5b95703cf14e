// Upkeep of the embedded store: VACUUM and ANALYZE of the runs tables, which PGlite, having no autovacuum, never runs.
import type { Sql } from './sql.ts';

export interface UpkeepPolicy {
  /** Rows deleted since the last upkeep that make it due, once `minIntervalMs` has passed. */
  afterDeletedRows: number;
  /** Least time between two upkeeps: VACUUM holds the embedded store's one connection while it runs. */
  minIntervalMs: number;
  /** Most time between two upkeeps, whatever was deleted: updates and inserts age the statistics too. */
  maxIntervalMs: number;
  /**
   * Least time after any upkeep before a table whose rows changed past its statistics is analyzed alone: as
   * autovacuum's default, more than 50 rows and a tenth of those it holds changed since its last ANALYZE.
   */
  analyzeMinIntervalMs: number;
}

export const UPKEEP_POLICY: UpkeepPolicy = {
  afterDeletedRows: 10_000,
  minIntervalMs: 60_000,
  maxIntervalMs: 600_000,
  analyzeMinIntervalMs: 10_000,
};

/** Tables of TABLES ($1) whose rows changed past their statistics (autovacuum's default analyze threshold). */
const OUTGROWN = `SELECT relname AS name FROM pg_stat_user_tables
  WHERE relname = ANY($1::text[]) AND schemaname = current_schema()
    AND n_mod_since_analyze > 50 + 0.1 * n_live_tup`;

/** The tables whose rows come and go: every run moves through several row versions and is deleted in the end. */
const TABLES = ['pw_runs', 'pw_attempts', 'pw_run_logs'];

/**
 * After large deletes the planner's statistics still count the deleted rows and the dead tuples stay in the
 * heap and indexes, which makes plans bad and scans long until VACUUM and ANALYZE run. Postgres runs them by
 * itself (autovacuum); on the embedded store the engine runs them, from its sweeper, when this says they are due.
 */
export class StoreUpkeep {
  private deleted = 0;
  /** The last VACUUM (ANALYZE), and the last ANALYZE of either kind. */
  private last: number;
  private lastAnalyze: number;

  constructor(
    private readonly sql: Sql,
    now: number,
    private readonly policy: UpkeepPolicy = UPKEEP_POLICY,
  ) {
    this.last = now;
    this.lastAnalyze = now;
  }

  /**
   * Notes `deleted` rows and runs the upkeep when due, or ANALYZE alone of the tables that outgrew their
   * statistics; true when either ran. Nothing on a server store.
   */
  async afterSweep(now: number, deleted: number): Promise<boolean> {
    if (this.sql.kind !== 'pglite') return false;
    this.deleted += deleted;
    const since = now - this.last;
    const due =
      since >= this.policy.maxIntervalMs ||
      (this.deleted >= this.policy.afterDeletedRows && since >= this.policy.minIntervalMs);
    if (!due) return this.analyzeOutgrown(now);
    this.last = now;
    this.lastAnalyze = now;
    this.deleted = 0;
    // Counts not yet sent would otherwise arrive after the ANALYZE and count as changes since it.
    await this.flushCounts();
    // One statement each: VACUUM cannot run inside a transaction, which several statements in one text would be.
    for (const table of TABLES) await this.sql.exec(`VACUUM (ANALYZE) ${table}`);
    return true;
  }

  /** The one connection sends its row counts on at most once a second; this has them sent after this statement. */
  private async flushCounts(): Promise<void> {
    await this.sql.query('SELECT pg_stat_force_next_flush()');
  }

  /**
   * A store that grows fast (a new one taking its first runs) would otherwise keep, for up to the longest
   * interval, the plans made while its tables were small: sequential scans that grow with every run.
   */
  private async analyzeOutgrown(now: number): Promise<boolean> {
    if (now - this.lastAnalyze < this.policy.analyzeMinIntervalMs) return false;
    await this.flushCounts();
    const outgrown = await this.sql.query<{ name: string }>(OUTGROWN, [TABLES]);
    if (outgrown.length === 0) return false;
    this.lastAnalyze = now;
    for (const { name } of outgrown) await this.sql.exec(`ANALYZE ${name}`);
    return true;
  }
}
