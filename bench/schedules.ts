// Schedules benchmark: what firing due ticks costs on the embedded store. 1,000 schedules due at one tick are fired
// (a row lock, a run and an advance each, 100 schedules a transaction); the baseline, measured in the same run, is
// the same 1,000 runs inserted in batches of 100 with their idempotency keys and nothing else. An idle round of the
// cron loop (nothing due) is timed too.
import { Metrics } from '../src/engine/metrics.ts';
import { ScheduleFirer, tickKey } from '../src/engine/schedule-firer.ts';
import { firstTick } from '../src/engine/schedules.ts';
import { Signals } from '../src/engine/signals.ts';
import { openStore } from '../src/engine/store/index.ts';
import { insertRuns } from '../src/engine/store/runs.ts';
import { insertSchedule } from '../src/engine/store/schedules.ts';

const N = 1_000;
const ROUNDS = 3;
const CRON = '0 0 1 * *';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const sql = await openStore();
const firer = new ScheduleFirer({
  sql,
  signals: new Signals(sql),
  metrics: new Metrics(),
  pollMs: 5_000,
  onError: (e) => console.error(e),
});
const fires: number[] = [];
const baselines: number[] = [];
const idles: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  await sql.query('TRUNCATE pw_runs, pw_attempts, pw_schedules');
  const now = Date.now();
  const tick = firstTick(CRON, 'UTC', now)!;
  for (let i = 0; i < N; i++) {
    await insertSchedule(
      sql,
      {
        name: `s${i}`,
        task: 'report',
        input: { i },
        metadata: null,
        cron: CRON,
        timezone: 'UTC',
        missed: 'latest',
        backfillLimit: 100,
        paused: false,
        source: 'api',
        nextTickAt: tick,
      },
      now,
    );
  }
  let t = performance.now();
  const outcome = await firer.fire(tick);
  fires.push(performance.now() - t);
  if (outcome.runs !== N) throw new Error(`fired ${outcome.runs} runs, not ${N}`);

  t = performance.now();
  await firer.fire(tick + 1);
  idles.push(performance.now() - t);

  await sql.query('TRUNCATE pw_runs, pw_attempts');
  t = performance.now();
  for (let b = 0; b < N; b += 100) {
    const runs = Array.from({ length: 100 }, (_, j) => ({
      id: `run_${crypto.randomUUID()}`,
      task: 'report',
      input: { i: b + j },
      idempotencyKey: tickKey(`s${b + j}`, tick),
    }));
    await sql.transaction((tx) => insertRuns(tx, runs, tick));
  }
  baselines.push(performance.now() - t);
}
await sql.close();

const fire = median(fires);
const baseline = median(baselines);
console.log(
  `baseline: ${N} runs inserted with idempotency keys, 100 a transaction: ${baseline.toFixed(0)} ms`,
);
console.log(
  `fire: ${N} due schedules, each locked, its run inserted, its tick advanced: ${fire.toFixed(0)} ms ` +
    `(${(fire / baseline).toFixed(2)}x the baseline, ${((fire / N) * 1000).toFixed(0)} µs a tick)`,
);
console.log(`idle round (nothing due): ${median(idles).toFixed(1)} ms`);
