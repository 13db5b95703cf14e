// Finished runs and dispatch latency per second, rolled up by the sweeper once a second has settled, so that the
// console's charts read an hour's seconds (at most 3,600 rows) instead of every run of the hour at each refresh.
import { QUEUE_SAMPLES_KEPT_MS } from './queue-samples.ts';
import type { Sql, SqlClient } from './sql.ts';

/** What the runs of one second add to a chart: finishes, and a histogram of dispatch latencies. */
export type RunSecond = {
  at: number;
  completed: number;
  failed: number;
  /** Runs assigned in the second, by latency bucket (see `latencyOfBucket`). */
  latency: Record<string, number>;
};

/** A second is rolled up this long after it ended: the transactions that finish runs in it have committed. */
export const ROLLUP_SETTLE_MS = 10_000;
/** Most of the past one roll-up reads: a long gap (a first start, an engine down) is caught up over sweeps. */
export const ROLLUP_SPAN_MS = 60_000;
/** Rolled-up seconds are kept as long as the queue samples: the longest window a chart reads. */
export const RUN_SECONDS_KEPT_MS = QUEUE_SAMPLES_KEPT_MS;
/** Latency buckets per doubling: a bucket is about 19% wide, so a percentile read from them is within about 9%. */
const BUCKETS_PER_DOUBLING = 4;

/**
 * The latency bucket of `d` (a latency in ms), as SQL: 0 for under 1 ms, then 1 + floor(4 log2 d).
 * `latencyOfBucket` is its inverse.
 */
const BUCKET_OF_D = `CASE WHEN d < 1 THEN 0 ELSE 1 + floor(${BUCKETS_PER_DOUBLING} * ln(d) / ln(2))::int END`;

/** The latency a bucket stands for: the geometric middle of its range, in whole ms. */
export function latencyOfBucket(bucket: number): number {
  return bucket === 0 ? 0 : Math.round(2 ** ((bucket - 0.5) / BUCKETS_PER_DOUBLING));
}

/**
 * The seconds in [$1, $2), read from the runs: finishes through the index of finished runs, assignments (each run
 * at its latest, from the due time it met; a run queued again is left out) through the index of `assigned_at`.
 */
const SECONDS_OF_RUNS = `WITH f AS (
    SELECT floor(finished_at / 1000) * 1000 AS at,
      count(*) FILTER (WHERE state = 'COMPLETED')::int AS completed,
      count(*) FILTER (WHERE state = 'FAILED')::int AS failed
    FROM pw_runs WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED')
      AND finished_at >= $1::float8 AND finished_at < $2::float8
    GROUP BY 1
  ), l AS (
    SELECT at, jsonb_object_agg(bucket, n) AS latency FROM (
      SELECT at, ${BUCKET_OF_D} AS bucket, count(*)::int AS n FROM (
        SELECT floor(assigned_at / 1000) * 1000 AS at, greatest(assigned_at - available_at, 0) AS d
        FROM pw_runs WHERE assigned_at >= $1::float8 AND assigned_at < $2::float8 AND state <> 'QUEUED'
      ) AS a GROUP BY 1, 2
    ) AS b GROUP BY at
  )
  SELECT coalesce(f.at, l.at) AS at, coalesce(f.completed, 0) AS completed, coalesce(f.failed, 0) AS failed,
    coalesce(l.latency, '{}'::jsonb) AS latency
  FROM f FULL JOIN l ON l.at = f.at`;

/** The first finish or assignment at or after $1, each through its index: where the next roll-up starts. */
const FIRST_SINCE = `SELECT least(
    (SELECT min(finished_at) FROM pw_runs
     WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED') AND finished_at >= $1::float8),
    (SELECT min(assigned_at) FROM pw_runs WHERE assigned_at >= $1::float8)
  ) AS at`;

const toSecond = (r: RunSecond): RunSecond => ({
  at: Number(r.at),
  completed: r.completed,
  failed: r.failed,
  latency: r.latency,
});

export interface RollUp {
  /** Seconds with runs written. */
  seconds: number;
  /** Whether every settled second is rolled up now (or another engine is rolling them up). */
  caughtUp: boolean;
}

/**
 * Rolls up the settled seconds after the last one rolled up (at most ROLLUP_SPAN_MS of them, none older than
 * RUN_SECONDS_KEPT_MS) and forgets the seconds no chart reads. One engine at a time: the others skip it while the
 * mark is locked.
 */
export async function rollUpRunSeconds(sql: Sql, now: number): Promise<RollUp> {
  const settled = Math.floor((now - ROLLUP_SETTLE_MS) / 1000) * 1000;
  return sql.transaction(async (tx) => {
    const [mark] = await tx.query<{ through: number }>(
      'SELECT through FROM pw_run_seconds_mark FOR UPDATE SKIP LOCKED',
    );
    if (!mark) return { seconds: 0, caughtUp: true };
    await tx.query('DELETE FROM pw_run_seconds WHERE at < $1::float8', [now - RUN_SECONDS_KEPT_MS]);
    const after = Math.max(Number(mark.through), settled - RUN_SECONDS_KEPT_MS);
    const [first] = await tx.query<{ at: number | null }>(FIRST_SINCE, [after]);
    // seconds without runs are passed over at once: a first start, or an engine idle for a while
    if (first?.at === null || first?.at === undefined || Number(first.at) >= settled) {
      await tx.query('UPDATE pw_run_seconds_mark SET through = greatest(through, $1::float8)', [settled]);
      return { seconds: 0, caughtUp: true };
    }
    const from = Math.max(after, Math.floor(Number(first.at) / 1000) * 1000);
    const to = Math.min(settled, from + ROLLUP_SPAN_MS);
    const rows = await tx.query(
      `INSERT INTO pw_run_seconds (at, completed, failed, latency) SELECT * FROM (${SECONDS_OF_RUNS}) AS s
       ON CONFLICT (at) DO NOTHING RETURNING at`,
      [from, to],
    );
    await tx.query('UPDATE pw_run_seconds_mark SET through = $1', [to]);
    return { seconds: rows.length, caughtUp: to === settled };
  });
}

/** The seconds in [from, to) with runs: rolled up where they are, read from the runs after the last rolled up. */
export async function runSeconds(sql: SqlClient, from: number, to: number): Promise<RunSecond[]> {
  const [mark] = await sql.query<{ through: number }>('SELECT through FROM pw_run_seconds_mark');
  const through = Math.min(to, Math.max(from, Number(mark?.through ?? 0)));
  const [rolled, recent] = await Promise.all([
    through > from
      ? sql.query<RunSecond>(
          'SELECT at, completed, failed, latency FROM pw_run_seconds WHERE at >= $1::float8 AND at < $2::float8',
          [from, through],
        )
      : [],
    to > through ? sql.query<RunSecond>(SECONDS_OF_RUNS, [through, to]) : [],
  ]);
  return [...rolled, ...recent].map(toSecond);
}
