// The console's charts over a recent window: runs finished per bucket, dispatch latency per bucket, and the queue
// depth per task, from the seconds rolled up and the queue samples.
import { SERIES_BUCKETS } from '../../protocol/api.ts';
import { listQueueSamples, queueDepths } from './queue-samples.ts';
import { latencyOfBucket, runSeconds } from './run-seconds.ts';
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

/** The window of `minutes` ending with the bucket `now` is in, in SERIES_BUCKETS buckets aligned to their length. */
export async function runSeries(sql: SqlClient, o: { now: number; minutes: number }): Promise<RunSeries> {
  const bucketMs = (o.minutes * 60_000) / SERIES_BUCKETS;
  const to = (Math.floor(o.now / bucketMs) + 1) * bucketMs;
  const from = to - SERIES_BUCKETS * bucketMs;
  const [seconds, samples, now] = await Promise.all([
    runSeconds(sql, from, to),
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
  const latencies = empty<Map<number, number> | null>(null);
  for (const s of seconds) {
    const b = Math.floor((s.at - from) / bucketMs);
    series.completed[b]! += s.completed;
    series.failed[b]! += s.failed;
    const histogram = latencies[b] ?? new Map<number, number>();
    latencies[b] = histogram;
    for (const [bucket, n] of Object.entries(s.latency))
      histogram.set(Number(bucket), (histogram.get(Number(bucket)) ?? 0) + n);
  }
  latencies.forEach((histogram, b) => {
    if (!histogram || histogram.size === 0) return;
    series.p50[b] = percentileOf(histogram, 0.5);
    series.p99[b] = percentileOf(histogram, 0.99);
  });
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

/** The latency at quantile `q` of a histogram of latency buckets: the bucket the q-th of its runs falls in. */
function percentileOf(histogram: Map<number, number>, q: number): number {
  const buckets = [...histogram.keys()].sort((a, b) => a - b);
  const total = buckets.reduce((n, b) => n + histogram.get(b)!, 0);
  let seen = 0;
  for (const bucket of buckets) {
    seen += histogram.get(bucket)!;
    if (seen >= q * total) return latencyOfBucket(bucket);
  }
  return latencyOfBucket(buckets[buckets.length - 1]!);
}
