// The next queued run to come due: what the dispatcher's sleep waits for when it is sooner than the poll.
import type { SqlClient } from './sql.ts';

/** The earliest `available_at` after $1 among queued runs, read from the index on it (the first entry past $1). */
const NEXT_DUE = `SELECT available_at AS at FROM pw_runs WHERE state = 'QUEUED' AND available_at > $1
  ORDER BY available_at LIMIT 1`;

/** When the next queued run that is not due at `now` comes due (delays, retry back-offs); undefined if none. */
export async function nextDueAt(sql: SqlClient, now: number): Promise<number | undefined> {
  const [row] = await sql.query<{ at: number }>(NEXT_DUE, [now]);
  return row ? Number(row.at) : undefined;
}
