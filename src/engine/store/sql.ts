// The tiny SQL interface every store query goes through; PGlite and `pg` both implement it.

export type Row = Record<string, unknown>;

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
  /** Which driver this is, for logs and for the few places that differ. */
  readonly kind: 'pglite' | 'postgres';
}
