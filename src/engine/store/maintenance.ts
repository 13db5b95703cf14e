// Upkeep of the embedded store: VACUUM and ANALYZE of the runs tables, which PGlite, having no autovacuum, never runs.
import type { Sql } from './sql.ts';

export interface UpkeepPolicy {
  /** Rows deleted since the last upkeep that make it due, once `minIntervalMs` has passed. */
  afterDeletedRows: number;
  /** Least time between two upkeeps: VACUUM holds the embedded store's one connection while it runs. */
  minIntervalMs: number;
  /** Most time between two upkeeps, whatever was deleted: updates and inserts age the statistics too. */
  maxIntervalMs: number;
}

export const UPKEEP_POLICY: UpkeepPolicy = {
  afterDeletedRows: 10_000,
  minIntervalMs: 60_000,
  maxIntervalMs: 600_000,
};

/** The tables whose rows come and go: every run moves through several row versions and is deleted in the end. */
const TABLES = ['pw_runs', 'pw_attempts', 'pw_run_logs'];

/**
 * After large deletes the planner's statistics still count the deleted rows and the dead tuples stay in the
 * heap and indexes, which makes plans bad and scans long until VACUUM and ANALYZE run. Postgres runs them by
 * itself (autovacuum); on the embedded store the engine runs them, from its sweeper, when this says they are due.
 */
export class StoreUpkeep {
  private deleted = 0;
  private last: number;

  constructor(
    private readonly sql: Sql,
    now: number,
    private readonly policy: UpkeepPolicy = UPKEEP_POLICY,
  ) {
    this.last = now;
  }

  /** Notes `deleted` rows and runs the upkeep when due; true when it ran. Nothing on a server store. */
  async afterSweep(now: number, deleted: number): Promise<boolean> {
    if (this.sql.kind !== 'pglite') return false;
    this.deleted += deleted;
    const since = now - this.last;
    const due =
      since >= this.policy.maxIntervalMs ||
      (this.deleted >= this.policy.afterDeletedRows && since >= this.policy.minIntervalMs);
    if (!due) return false;
    this.last = now;
    this.deleted = 0;
    // One statement each: VACUUM cannot run inside a transaction, which several statements in one text would be.
    for (const table of TABLES) await this.sql.exec(`VACUUM (ANALYZE) ${table}`);
    return true;
  }
}
