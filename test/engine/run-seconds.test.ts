// The console's charts read rolled-up seconds: each settled second's finishes and dispatch latencies are written
// once (by one engine of several), a chart counts what it would have counted from the runs, and the runs of the
// seconds not yet rolled up are read as they are.
import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/engine/store/index.ts';
import {
  ROLLUP_SETTLE_MS,
  ROLLUP_SPAN_MS,
  RUN_SECONDS_KEPT_MS,
  rollUpRunSeconds,
  runSeconds,
} from '../../src/engine/store/run-seconds.ts';
import { runSeries } from '../../src/engine/store/run-series.ts';
import { storePerTest, storeTargets } from './support/postgres.ts';

/** A whole minute, so that seconds and the charts' buckets line up with the figures below. */
const T0 = Math.floor(Date.now() / 3600_000) * 3600_000;
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
let seq = 0;

describe.each(storeTargets('pw_run_seconds'))('rolled-up seconds on $name', ({ open }) => {
  let sql!: Sql;
  storePerTest(open, (opened) => {
    sql = opened;
  });

  /** Rolls up every settled second at `now`; the seconds with runs written. */
  async function rollUpAll(now: number): Promise<number> {
    let seconds = 0;
    for (let span = 0; span < 100; span++) {
      const rolled = await rollUpRunSeconds(sql, now);
      seconds += rolled.seconds;
      if (rolled.caughtUp) return seconds;
    }
    throw new Error('the roll-up did not catch up');
  }

  /** Runs finished at `finishedAt`, assigned (in the second before, 5 ms earlier) `latencyMs` after they were due. */
  async function finished(n: number, finishedAt: number, latencyMs: number, state = 'COMPLETED') {
    await sql.query(
      `INSERT INTO pw_runs (id, task, input, state, attempt, deliveries, slot_cost, available_at, created_at,
         assigned_at, started_at, finished_at)
       SELECT 'r' || ($1::int + i), 'job', '{}'::json, $2, 1, 1, 1, $3::float8 - $4::float8 - 5, $3::float8 - $4::float8 - 5,
         $3::float8 - 5, $3::float8 - 5, $3::float8
       FROM generate_series(1, $5::int) AS i`,
      [seq, state, finishedAt, latencyMs, n],
    );
    seq += n;
  }

  it('writes each settled second once, and a chart counts the same from it as from the runs', async () => {
    await finished(30, T0 + 1_000, 4);
    await finished(5, T0 + 1_500, 400, 'FAILED');
    await finished(20, T0 + 20_000, 40);
    const now = T0 + 40_000;
    const fromRuns = await runSeries(sql, { now, minutes: 15 });
    // assigned in the seconds at T0, T0 + 1 s and T0 + 19 s, finished in those at T0 + 1 s and T0 + 20 s
    expect(await rollUpAll(now)).toBe(4);
    expect(await rollUpAll(now)).toBe(0);
    // the runs are gone, the seconds stay: a chart reads them from the roll-up now
    await sql.query('DELETE FROM pw_runs');
    const rolled = await runSeries(sql, { now, minutes: 15 });
    expect(rolled.completed).toEqual(fromRuns.completed);
    expect(rolled.failed).toEqual(fromRuns.failed);
    expect(rolled.p50).toEqual(fromRuns.p50);
    expect(rolled.p99).toEqual(fromRuns.p99);
    expect(sum(rolled.completed)).toBe(50);
    expect(sum(rolled.failed)).toBe(5);
    // 15 s buckets: the first holds 30 runs at 4 ms and 5 at 400 ms, the second 20 at 40 ms; within 10%
    const first = Math.floor((T0 + 1_000 - rolled.from) / rolled.bucketMs);
    const second = Math.floor((T0 + 20_000 - rolled.from) / rolled.bucketMs);
    expect(rolled.p50[first]).toBeGreaterThanOrEqual(4 * 0.9);
    expect(rolled.p50[first]).toBeLessThanOrEqual(4 * 1.1);
    expect(rolled.p99[first]).toBeGreaterThanOrEqual(400 * 0.9);
    expect(rolled.p99[first]).toBeLessThanOrEqual(400 * 1.1);
    expect(rolled.p50[second]).toBeGreaterThanOrEqual(40 * 0.9);
    expect(rolled.p50[second]).toBeLessThanOrEqual(40 * 1.1);
  });

  it('leaves the seconds that have not settled to be read from the runs', async () => {
    const now = T0 + 100_000;
    await finished(3, now - 60_000, 2);
    await finished(7, now - ROLLUP_SETTLE_MS / 2, 2);
    // each run's assignment and finish are a second apart (two seconds each)
    expect(await rollUpAll(now)).toBe(2);
    const seconds = await runSeconds(sql, now - 120_000, now + 1_000);
    expect(sum(seconds.map((s) => s.completed))).toBe(10);
    // once settled, the later second is rolled up, and nothing is counted twice
    expect(await rollUpAll(now + ROLLUP_SETTLE_MS)).toBe(2);
    const again = await runSeconds(sql, now - 120_000, now + ROLLUP_SETTLE_MS);
    expect(sum(again.map((s) => s.completed))).toBe(10);
  });

  it('catches up a long gap a span at a time, and forgets seconds older than a chart reads', async () => {
    const now = T0 + 3 * ROLLUP_SPAN_MS + ROLLUP_SETTLE_MS;
    for (let m = 0; m < 3; m++) await finished(2, T0 + m * ROLLUP_SPAN_MS + 1_000, 1);
    // the mark starts an hour back: the empty seconds are passed over, then each roll-up takes one span
    const first = await rollUpRunSeconds(sql, now);
    expect(first.caughtUp).toBe(false);
    const spans = [first];
    while (!spans.at(-1)!.caughtUp && spans.length < 100) spans.push(await rollUpRunSeconds(sql, now));
    expect(spans).toHaveLength(3);
    expect(sum(spans.map((s) => s.seconds))).toBe(6);
    const later = now + RUN_SECONDS_KEPT_MS + ROLLUP_SPAN_MS;
    await rollUpAll(later);
    const [left] = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM pw_run_seconds');
    expect(left?.n).toBe(0);
  });

  it('passes over an idle hour in one roll-up, and starts from there when runs come', async () => {
    const now = T0 + 2 * 3600_000;
    expect(await rollUpRunSeconds(sql, now)).toEqual({ seconds: 0, caughtUp: true });
    const [mark] = await sql.query<{ through: number }>('SELECT through FROM pw_run_seconds_mark');
    expect(Number(mark?.through)).toBe(now - ROLLUP_SETTLE_MS);
    await finished(4, now + 1_000, 2);
    expect(await rollUpAll(now + 1_000 + ROLLUP_SETTLE_MS + 1_000)).toBe(2);
  });

  it('rolls up a second once when engines roll up at the same time', async () => {
    await finished(40, T0 + 2_000, 3);
    await sql.query('UPDATE pw_run_seconds_mark SET through = $1', [T0]);
    const now = T0 + 30_000;
    const results = await Promise.all([
      rollUpRunSeconds(sql, now),
      rollUpRunSeconds(sql, now),
      rollUpRunSeconds(sql, now),
    ]);
    expect(sum(results.map((r) => r.seconds))).toBe(2);
    expect(results.filter((r) => r.seconds > 0)).toHaveLength(1);
    const seconds = await runSeconds(sql, T0, now);
    expect(sum(seconds.map((s) => s.completed))).toBe(40);
  });
});
