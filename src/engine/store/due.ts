// The next time queued runs may come free: what the dispatcher's sleep waits for when it is sooner than the poll.
import type { SqlClient } from './sql.ts';

/**
 * The earliest of: the first `available_at` after $1 among queued runs, and the end of a rate limit window in use,
 * when runs it held back may start. Past windows are deleted as claims go, so the windows read are the current
 * ones of the keys in use; windows of one length end together, being aligned.
 *
 * The runs are read from the index of those due after they were queued (`available_at > created_at`,
 * pw_runs_queued_later), whose predicate the subquery repeats so that the planner may use it. It leaves out no
 * run that comes due after $1 and was queued by $1: such a run has available_at > $1 >= created_at. The runs it
 * leaves out have available_at <= created_at: queued due now (available_at = created_at, as every enqueue
 * without a delay is), or re-queued due now by a replica whose clock is behind the one that queued them. Such a
 * run is after $1 only when its clock was ahead of the caller's: queued by a replica whose clock is ahead, or by
 * this engine after its round read the clock. Neither needs this time: every enqueue and re-queue wakes the
 * dispatchers (this replica's, and the others' over signals), the round after it on the replica that wrote the
 * run finds it due, as does any round whose clock has reached it; a replica whose clock lags sleeps no longer
 * than its poll interval.
 */
const NEXT_DUE = `SELECT least(
    (SELECT available_at FROM pw_runs WHERE state = 'QUEUED' AND available_at > created_at AND available_at > $1
     ORDER BY available_at LIMIT 1),
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
