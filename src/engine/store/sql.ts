// The tiny SQL interface every store query goes through; PGlite and `pg` both implement it.
import type { PushworkerError } from '../../protocol/errors.ts';

export type Row = Record<string, unknown>;

/*
 * Bulk updates by id. A statement that updates many runs at once reads their new values from a recordset
 * (`jsonb_to_recordset`, `json_to_recordset`) and matches the ids twice: `r.id = x.id` to join them, and `r.id = ANY($n::text[])`,
 * which looks redundant and must stay. The planner sizes a recordset at 100 rows and, joined to it alone, meets
 * it with a hash join over a sequential scan of the whole runs table; `= ANY` lets the primary key find the
 * rows. Statements that do this refer here.
 */

/**
 * How many statement texts a driver keeps prepared. The queue's statements are a few dozen fixed texts; a text
 * built per call beyond these is sent unprepared rather than growing the cache without bound.
 */
export const MAX_PREPARED_STATEMENTS = 256;

export interface SqlClient {
  query<T extends Row = Row>(text: string, params?: unknown[]): Promise<T[]>;
}

export interface Sql extends SqlClient {
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /** Subscribes to NOTIFY on `channel` where the database supports it; resolves to an unsubscribe. */
  listen?(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
  /** Runs several statements separated by semicolons (migrations). */
  exec(text: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Calls `fn` once if the store fails in a way it cannot recover from, after which every call fails with the
   * same error: the embedded database's thread died, or its files are gone. A server store has no such state:
   * a lost connection is replaced on the next call.
   */
  onFatal?(fn: (error: PushworkerError) => void): void;
  /**
   * True when the database has one connection, which runs one statement at a time and a transaction to its end
   * before any other statement (PGlite). Nothing then commits between a statement's snapshot and its writes, nor
   * between the statements of a transaction: a claim needs neither a lock of the worker row nor a check that
   * the row is still the version its snapshot read. False where other connections write meanwhile (Postgres).
   */
  readonly serial: boolean;
  /** Which driver this is: the health check names it, and signals relay over NOTIFY on Postgres only. */
  readonly kind: 'pglite' | 'postgres';
}
