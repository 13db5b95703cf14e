// The queue depth per task over time, for the console's chart: every engine samples it into the store.
import { SERIES_MINUTES } from '../../protocol/api.ts';
import type { SqlClient } from './sql.ts';

/** How often the depth is sampled; a chart's bucket is never shorter. */
export const QUEUE_SAMPLE_MS = 5_000;
/** How long samples are kept: the longest window a chart reads. */
export const QUEUE_SAMPLES_KEPT_MS = SERIES_MINUTES.max * 60_000;

/** Queued runs per task now, through each task's queue index. */
const QUEUE_DEPTHS = `SELECT task, count(*)::int AS n FROM pw_runs WHERE state = 'QUEUED' GROUP BY task`;

export async function queueDepths(sql: SqlClient): Promise<Record<string, number>> {
  const rows = await sql.query<{ task: string; n: number }>(QUEUE_DEPTHS);
  return Object.fromEntries(rows.map((r) => [r.task, r.n]));
}

// Stored samples, one row per instant: run timestamps cannot give past depths (a retry overwrites assigned_at), and replicas sampling at once write one row, kept over restarts.
export async function recordQueueSample(sql: SqlClient, now: number): Promise<void> {
  const at = Math.floor(now / QUEUE_SAMPLE_MS) * QUEUE_SAMPLE_MS;
  await sql.query(
    `INSERT INTO pw_queue_samples (at, depths)
     SELECT $1::float8, coalesce((SELECT jsonb_object_agg(task, n) FROM (${QUEUE_DEPTHS}) AS d), '{}'::jsonb)
     WHERE NOT EXISTS (SELECT 1 FROM pw_queue_samples WHERE at = $1::float8)
     ON CONFLICT (at) DO NOTHING`,
    [at],
  );
  await sql.query('DELETE FROM pw_queue_samples WHERE at < $1::float8', [now - QUEUE_SAMPLES_KEPT_MS]);
}

export async function listQueueSamples(
  sql: SqlClient,
  from: number,
  to: number,
): Promise<{ at: number; depths: Record<string, number> }[]> {
  const rows = await sql.query<{ at: number; depths: Record<string, number> }>(
    'SELECT at, depths FROM pw_queue_samples WHERE at >= $1::float8 AND at < $2::float8 ORDER BY at',
    [from, to],
  );
  return rows.map((r) => ({ at: Number(r.at), depths: r.depths }));
}
