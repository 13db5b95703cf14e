// The next time queued runs may come free: what the dispatcher's sleep waits for when it is sooner than the poll.
import type { SqlClient } from './sql.ts';

/**
 * The earliest of: the first `available_at` after $1 among queued runs (read from the index on it), and the end of
 * a rate limit window in use, when runs it held back may start. Past windows are deleted as claims go, so the
 * windows read are the current ones of the keys in use; windows of one length end together, being aligned.
 */
const NEXT_DUE = `SELECT least(
    (SELECT available_at FROM pw_runs WHERE state = 'QUEUED' AND available_at > $1 ORDER BY available_at LIMIT 1),
    (SELECT min(n.window_start + l.per_ms) FROM pw_rate_limit_windows n JOIN pw_rate_limits_applied l ON l.key = n.key
     WHERE n.used > 0 AND n.window_start + l.per_ms > $1)
  ) AS at`;

/**
 * When the next queued run that is not due at `now` comes due (delays, retry back-offs), or a rate limit window in
 * use ends; undefined if neither is ahead.
 */
export async function nextDueAt(sql: SqlClient, now: number): Promise<number | undefined> {
  const [row] = await sql.query<{ at: number | null }>(NEXT_DUE, [now]);
  return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
}
