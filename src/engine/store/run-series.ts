// The console's charts over a recent window: runs finished per bucket, dispatch latency per bucket, and the queue
// depth per task, each read through an index of its times so that only the window's runs are read.
import { SERIES_BUCKETS } from '../../protocol/api.ts';
import { listQueueSamples, queueDepths } from './queue-samples.ts';
import type { SqlClient } from './sql.ts';

export interface RunSeries {
  from: number;
  to: number;
  bucketMs: number;
  completed: number[];
  failed: number[];
  p50: (number | null)[];
  p99: (number | null)[];
  queueDepth: { task: string; depth: (number | null)[] }[];
}

/** Through the index of finished runs by `finished_at` (its predicate is the one given here). */
const FINISHED_PER_BUCKET = `SELECT floor((finished_at - $1::float8) / $3::float8)::int AS b,
    count(*) FILTER (WHERE state = 'COMPLETED')::int AS completed,
    count(*) FILTER (WHERE state = 'FAILED')::int AS failed
  FROM pw_runs WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED') AND finished_at >= $1::float8 AND finished_at < $2::float8
  GROUP BY b`;

/*
 * Through the index of `assigned_at`: each run counts at its latest assignment, from the due time that assignment
 * met. A run queued again has a new due time and no assignment yet, so it is left out.
 */
const LATENCY_PER_BUCKET = `SELECT floor((assigned_at - $1::float8) / $3::float8)::int AS b,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(assigned_at - available_at, 0)) AS p50,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY greatest(assigned_at - available_at, 0)) AS p99
  FROM pw_runs WHERE assigned_at >= $1::float8 AND assigned_at < $2::float8 AND state <> 'QUEUED'
  GROUP BY b`;

/** The window of `minutes` ending with the bucket `now` is in, in SERIES_BUCKETS buckets aligned to their length. */
export async function runSeries(sql: SqlClient, o: { now: number; minutes: number }): Promise<RunSeries> {
  const bucketMs = (o.minutes * 60_000) / SERIES_BUCKETS;
  const to = (Math.floor(o.now / bucketMs) + 1) * bucketMs;
  const from = to - SERIES_BUCKETS * bucketMs;
  const window = [from, to, bucketMs];
  const [finished, latency, samples, now] = await Promise.all([
    sql.query<{ b: number; completed: number; failed: number }>(FINISHED_PER_BUCKET, window),
    sql.query<{ b: number; p50: number; p99: number }>(LATENCY_PER_BUCKET, window),
    listQueueSamples(sql, from, to),
    queueDepths(sql),
  ]);
  const empty = <T>(value: T) => Array.from({ length: SERIES_BUCKETS }, () => value);
  const series: RunSeries = {
    from,
    to,
    bucketMs,
    completed: empty(0),
    failed: empty(0),
    p50: empty<number | null>(null),
    p99: empty<number | null>(null),
    queueDepth: [],
  };
  for (const r of finished) {
    series.completed[r.b] = r.completed;
    series.failed[r.b] = r.failed;
  }
  for (const r of latency) {
    series.p50[r.b] = Math.round(Number(r.p50));
    series.p99[r.b] = Math.round(Number(r.p99));
  }
  // Each bucket shows its largest sample; a task missing from a sample had no queued run then.
  const sampled = empty<Record<string, number> | null>(null);
  for (const s of samples) {
    const b = Math.floor((s.at - from) / bucketMs);
    const seen = sampled[b] ?? {};
    sampled[b] = seen;
    for (const [task, n] of Object.entries(s.depths)) seen[task] = Math.max(seen[task] ?? 0, n);
  }
  sampled[SERIES_BUCKETS - 1] = now;
  const tasks = [...new Set(sampled.flatMap((s) => (s ? Object.keys(s) : [])))].sort();
  series.queueDepth = tasks.map((task) => ({ task, depth: sampled.map((s) => (s ? (s[task] ?? 0) : null)) }));
  return series;
}
