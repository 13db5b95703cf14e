// Claim benchmark for flow control: claiming queued runs in batches straight through the store, for the embedded
// store in memory and (with PUSHWORKER_TEST_DATABASE_URL) Postgres. Baseline: runs with a concurrency key, which
// the scan claim takes as it takes rate-limited and round-robin runs, measured in the same run; plain runs (the
// head claim) for scale.
import { claimRuns } from '../src/engine/store/claims.ts';
import { openStore, type Sql, truncateAll } from '../src/engine/store/index.ts';
import { declareRateLimits } from '../src/engine/store/rate-limits.ts';
import { insertRuns, type NewRun } from '../src/engine/store/runs.ts';
import { upsertWorker } from '../src/engine/store/workers.ts';
import { freshSchemaUrl } from '../test/engine/support/postgres.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 2_000);
const BATCH = 50;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const kinds: Record<string, (i: number) => Partial<NewRun>> = {
  plain: () => ({}),
  'concurrency key (baseline)': (i) => ({ concurrencyKey: `k${i % 20}`, concurrencyLimit: 100_000 }),
  'rate limited, one key': () => ({ rateLimits: [{ key: 'api', units: 1 }] }),
  'rate limited, 20 keys': (i) => ({ rateLimits: [{ key: `tenant${i % 20}`, units: 1 }] }),
  'GROUP_ROUND_ROBIN, 20 keys': (i) => ({
    concurrencyKey: `k${i % 20}`,
    concurrencyLimit: 100_000,
    concurrencyStrategy: 'GROUP_ROUND_ROBIN',
  }),
};

/** Runs per second claimed, from a queue of RUNS runs of the kind, in batches of BATCH. */
async function claimRate(sql: Sql, kind: (i: number) => Partial<NewRun>): Promise<number> {
  await truncateAll(sql);
  const task = { name: 'job', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };
  const w = await upsertWorker(
    sql,
    { name: 'bench', url: 'http://127.0.0.1/bench', slots: RUNS, labels: {}, tasks: [task] },
    'registered',
    1,
  );
  const limits = Array.from({ length: 20 }, (_, i) => ({ key: `tenant${i}`, limit: RUNS, perMs: 3_600_000 }));
  await declareRateLimits(sql, [...limits, { key: 'api', limit: RUNS, perMs: 3_600_000 }], 1);
  const runs = Array.from({ length: RUNS }, (_, i) => ({ id: `r${i}`, task: 'job', input: i, ...kind(i) }));
  for (let i = 0; i < runs.length; i += 500) await insertRuns(sql, runs.slice(i, i + 500), 1);
  const started = performance.now();
  let claimed = 0;
  while (claimed < RUNS) {
    const { runs: got } = await claimRuns(sql, { workerId: w.id, max: BATCH, now: 10, leaseMs: 60_000 });
    if (got.length === 0) throw new Error(`claimed ${claimed} of ${RUNS}, then nothing`);
    claimed += got.length;
  }
  return RUNS / ((performance.now() - started) / 1000);
}

async function bench(name: string, sql: Sql): Promise<void> {
  console.log(`\n${name}: ${RUNS} runs claimed ${BATCH} at a time, median of ${ROUNDS} rounds`);
  const rates: Record<string, number> = {};
  for (const [kind, make] of Object.entries(kinds)) {
    const samples: number[] = [];
    for (let r = 0; r < ROUNDS; r++) samples.push(await claimRate(sql, make));
    rates[kind] = median(samples);
  }
  const baseline = rates['concurrency key (baseline)']!;
  for (const [kind, rate] of Object.entries(rates)) {
    console.log(
      `  ${kind.padEnd(28)} ${rate.toFixed(0).padStart(7)} runs/s  ${(rate / baseline).toFixed(2)}× baseline`,
    );
  }
}

const memory = await openStore();
try {
  await bench('PGlite (memory)', memory);
} finally {
  await memory.close();
}
const url = process.env.PUSHWORKER_TEST_DATABASE_URL;
if (url) {
  const postgres = await openStore({ databaseUrl: await freshSchemaUrl(url, 'pw_bench_flow_control') });
  try {
    await bench('Postgres', postgres);
  } finally {
    await postgres.close();
  }
}
