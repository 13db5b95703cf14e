// Engine benchmark: no-op runs end to end through the engine and one example Node worker on loopback, each in
// its own process, for the embedded store on disk and (with PUSHWORKER_TEST_DATABASE_URL) Postgres; baseline:
// a bare Hono route served by the same kind of process and driven by the same load generator in the same run.
// The grown phase measures the same on a store holding many finished runs against an empty one, in the same run.
// The workflow phase times a three-task chain end to end against the bare route's round trip, in the same run.
// The durable phase measures how late sleeping durable runs resume past their due time, against the same baseline.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { openStore } from '../src/engine/store/index.ts';
import { StoreUpkeep, UPKEEP_POLICY } from '../src/engine/store/maintenance.ts';
import { seedFinishedRuns } from '../test/support/finished-runs.ts';
import {
  CHAIN_P50_GOAL_MS,
  LATENCY_RSS_GOAL_MB,
  SEND_GOALS,
  STORE_GOALS,
  WAKE_P99_GOAL_MS,
  WORKER_CPU_GOAL_MS,
} from './goals.ts';
import {
  backlogRate,
  bareRate,
  CONNECTIONS,
  call,
  cpuMsOf,
  drained,
  eachRunPage,
  freshStore,
  median,
  openLoop,
  percentile,
  type Server,
  type Store,
  sleep,
  startServer,
  withEngine,
} from './load.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OFFERED_RPS = Number(process.env.BENCH_OFFERED_RPS ?? 500);
const OFFERED_SECONDS = Number(process.env.BENCH_OFFERED_SECONDS ?? 10);
const QUEUED = Number(process.env.BENCH_QUEUED ?? 100_000);
/** Finished runs in the grown phase's store. */
const GROWN = Number(process.env.BENCH_GROWN ?? 200_000);
const GROWN_ROUNDS = Number(process.env.BENCH_GROWN_ROUNDS ?? 3);
/** Workflow runs of the chain the workflow phase times, one at a time. */
const WORKFLOW_RUNS = Number(process.env.BENCH_WORKFLOW_RUNS ?? 300);
/** Durable runs the durable phase starts, one every DURABLE_GAP_MS, each sleeping DURABLE_SLEEP_MS. */
const DURABLE_RUNS = Number(process.env.BENCH_DURABLE_RUNS ?? 300);
const DURABLE_GAP_MS = 13;
const DURABLE_SLEEP_MS = 200;
// Which measurements to take (comma-separated): throughput, latency, workflow, durable, memory, grown; all by default.
const PHASES = new Set(
  (process.env.BENCH_PHASES ?? 'throughput,latency,workflow,durable,memory,grown').split(','),
);

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

/** Resident and peak resident memory of a process (Linux /proc). */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * Fills a store with finished runs, as weeks of work leave it, before the engine opens it: with the statistics
 * a store that grew under a running engine has, from the engine's upkeep (embedded) or autovacuum (Postgres).
 */
async function growStore(env: Record<string, string>, finished: number): Promise<void> {
  const sql = await openStore({ databaseUrl: env.BENCH_DATABASE_URL, dataDir: env.BENCH_DATA_DIR });
  try {
    const start = Date.now();
    await seedFinishedRuns(sql, finished, Date.now());
    const upkept = await new StoreUpkeep(sql, 0).afterSweep(UPKEEP_POLICY.maxIntervalMs, 0);
    if (!upkept) for (const table of ['pw_runs', 'pw_attempts']) await sql.exec(`VACUUM (ANALYZE) ${table}`);
    if (process.env.BENCH_VERBOSE)
      console.error(`  grown: ${finished} finished runs in ${Date.now() - start} ms`);
  } finally {
    await sql.close();
  }
}

/** Runs/s with single enqueues from 64 closed-loop clients for `seconds`, until all are done. */
async function singleEnqueueRate(engine: Server, seconds: number): Promise<number> {
  const start = Date.now();
  const end = start + seconds * 1000;
  let sent = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < end) {
        await call(engine, 'POST', '/v1/runs', { task: 'echo', input: { message: 'x' } });
        sent++;
      }
    }),
  );
  const sentAt = Date.now();
  await drained(engine, 'echo');
  if (process.env.BENCH_VERBOSE)
    console.error(`  single: ${sent} sent in ${sentAt - start} ms, drained after ${Date.now() - sentAt} ms`);
  return sent / ((Date.now() - start) / 1000);
}

/** Open loop: sends on schedule whatever the answers; latency to the start a run records (its started event's time, kept within the attempt) from enqueue and from the due time. */
async function offeredLatency(engine: Server, worker: ChildProcess) {
  const total = OFFERED_RPS * OFFERED_SECONDS;
  const cpuBefore = {
    engine: cpuMsOf(engine.child.pid!),
    worker: cpuMsOf(worker.pid!),
    bench: process.cpuUsage(),
  };
  const due = new Map<string, number>();
  const peak = { together: 0, engine: 0, worker: 0 };
  const sampler = setInterval(() => {
    const e = memoryOf(engine.child.pid!).rss;
    const w = memoryOf(worker.pid!).rss;
    peak.together = Math.max(peak.together, e + w);
    peak.engine = Math.max(peak.engine, e);
    peak.worker = Math.max(peak.worker, w);
  }, 100);
  const { t0, lateSend } = await openLoop(total, OFFERED_RPS, (_, at) =>
    call<{ id: string }>(engine, 'POST', '/v1/runs', { task: 'echo', input: { message: 'x' } }).then((r) => {
      due.set(r.id, at);
    }),
  );
  await drained(engine, 'echo');
  clearInterval(sampler);
  const benchCpu = process.cpuUsage(cpuBefore.bench);
  const cpu = {
    engine: (cpuMsOf(engine.child.pid!) - cpuBefore.engine) / total,
    worker: (cpuMsOf(worker.pid!) - cpuBefore.worker) / total,
    bench: (benchCpu.user + benchCpu.system) / 1000 / total,
  };
  const engineSide: number[] = [];
  const clientSide: number[] = [];
  await eachRunPage(engine, 'echo', (runs) => {
    for (const r of runs) {
      const at = due.get(r.id);
      if (at === undefined || !r.startedAt) continue;
      engineSide.push(Date.parse(r.startedAt) - Date.parse(r.createdAt));
      clientSide.push(Date.parse(r.startedAt) - at);
    }
    return engineSide.length < due.size;
  });
  engineSide.sort((a, b) => a - b);
  const phaseStart = t0;
  clientSide.sort((a, b) => a - b);
  return {
    p50: percentile(engineSide, 50),
    p99: percentile(engineSide, 99),
    clientP50: percentile(clientSide, 50),
    clientP99: percentile(clientSide, 99),
    lateSend,
    peak,
    started: engineSide.length,
    phaseStart,
    cpu,
  };
}

/** Where enqueue-to-started goes, split at assignment, read from the store once the engine has stopped. */
async function latencySplit(env: Record<string, string>, since: number) {
  const sql = await openStore({ databaseUrl: env.BENCH_DATABASE_URL, dataDir: env.BENCH_DATA_DIR });
  try {
    const [r] = await sql.query<{ a50: number; a99: number; s50: number; s99: number }>(
      `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY assigned_at - created_at) AS a50,
         percentile_disc(0.99) WITHIN GROUP (ORDER BY assigned_at - created_at) AS a99,
         percentile_disc(0.5) WITHIN GROUP (ORDER BY started_at - assigned_at) AS s50,
         percentile_disc(0.99) WITHIN GROUP (ORDER BY started_at - assigned_at) AS s99
       FROM pw_runs WHERE task = 'echo' AND created_at >= $1 AND attempt = 1`,
      [since],
    );
    const ms = (x: number | undefined) => Math.round(Number(x));
    return `enqueue->assigned p50 ${ms(r?.a50)} / p99 ${ms(r?.a99)} ms, assigned->started p50 ${ms(r?.s50)} / p99 ${ms(r?.s99)} ms`;
  } finally {
    await sql.close();
  }
}

/** Round trips of the bare route one at a time, after a warm-up: the floor under any latency over HTTP here. */
async function bareRoundTrip(requests: number) {
  const bare = await startServer('bare');
  try {
    const times: number[] = [];
    for (let i = 0; i < requests + 50; i++) {
      const start = performance.now();
      await call(bare, 'POST', '/', { message: 'hi' });
      if (i >= 50) times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  } finally {
    await bare.stop();
  }
}

type WorkflowRun = {
  state: string;
  output: Record<string, { n?: number } | undefined>;
  tasks: { task: string; runId: string | null }[];
};

/**
 * The chain workflow one run at a time, after a warm-up: from the client's send to its last task's finish as the
 * engine recorded it (the same clock), read once every run has ended.
 */
async function chainLatency(engine: Server, runs: number) {
  const one = async () => {
    const sentAt = Date.now();
    const { id } = await call<{ id: string }>(engine, 'POST', '/v1/workflow-runs', {
      workflow: 'chain',
      input: { n: 0 },
    });
    let view: WorkflowRun;
    do view = await call<WorkflowRun>(engine, 'GET', `/v1/workflow-runs/${id}/wait?timeoutMs=10000`);
    while (view.state === 'RUNNING');
    if (view.state !== 'COMPLETED' || view.output['chain.third']?.n !== 2)
      throw new Error(`workflow run ${id} ended ${view.state} with ${JSON.stringify(view.output)}`);
    return { sentAt, last: view.tasks.at(-1)!.runId! };
  };
  for (let i = 0; i < 20; i++) await one();
  const measured: { sentAt: number; last: string }[] = [];
  for (let i = 0; i < runs; i++) measured.push(await one());
  const times: number[] = [];
  for (const m of measured) {
    const run = await call<{ finishedAt: string }>(engine, 'GET', `/v1/runs/${m.last}`);
    times.push(Date.parse(run.finishedAt) - m.sentAt);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

type DurableRun = { output: { resumedAt: number } | null; journal?: Record<string, { until?: string }> };

/**
 * Durable runs that sleep DURABLE_SLEEP_MS, started one every DURABLE_GAP_MS so that several sleep at once and
 * their wakes fall apart, after a warm-up: each one's lateness is its resume time as its worker saw it less the
 * due time the engine stored for the sleep (the journal's `sleep:1`), on the one machine clock.
 */
async function wakeLateness(engine: Server, runs: number) {
  const start = async (n: number) => {
    const ids: Promise<string>[] = [];
    for (let i = 0; i < n; i++) {
      ids.push(
        call<{ id: string }>(engine, 'POST', '/v1/runs', {
          task: 'durable.nap',
          input: { ms: DURABLE_SLEEP_MS },
        }).then((r) => r.id),
      );
      await sleep(DURABLE_GAP_MS);
    }
    const started = await Promise.all(ids);
    await drained(engine, 'durable.nap');
    return started;
  };
  await start(20);
  const late: number[] = [];
  for (const id of await start(runs)) {
    const run = await call<DurableRun>(engine, 'GET', `/v1/runs/${id}`);
    const due = run.journal?.['sleep:1']?.until;
    if (!run.output || !due)
      throw new Error(`durable run ${id} ended without its wake: ${JSON.stringify(run)}`);
    late.push(run.output.resumedAt - Date.parse(due));
  }
  late.sort((a, b) => a - b);
  return { p50: percentile(late, 50), p99: percentile(late, 99), max: late.at(-1)! };
}

/** Peak engine RSS while `QUEUED` runs of a task nobody serves are enqueued in bulk, and a while after. */
async function queuedMemory(engine: Server) {
  const idle = memoryOf(engine.child.pid!).rss;
  let peak = idle;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memoryOf(engine.child.pid!).rss);
  }, 50);
  for (let i = 0; i < QUEUED; i += 1000) {
    const runs = Array.from({ length: Math.min(1000, QUEUED - i) }, () => ({
      task: 'unserved',
      input: { message: 'x' },
    }));
    await call(engine, 'POST', '/v1/runs/bulk', { runs });
  }
  await sleep(3_000); // dispatch rounds and sweeps over the deep queue
  clearInterval(sampler);
  return { idle, peak, after: memoryOf(engine.child.pid!).rss, hwm: memoryOf(engine.child.pid!).hwm };
}

/** Backlog throughput and open-loop dispatch latency, on a fresh store or on `store`. */
async function storeFigures(databaseUrl: string | undefined, store?: Store) {
  return withEngine(
    databaseUrl,
    256,
    async (engine, worker) => {
      await backlogRate(engine); // warm-up
      const backlog = await backlogRate(engine);
      return { backlog, ...(await offeredLatency(engine, worker!)) };
    },
    undefined,
    store,
  );
}

/**
 * The same measures on an empty store and on a grown one, alternately for GROWN_ROUNDS rounds (a fresh empty
 * store each round, one grown store for all: each round adds only its own runs to it), and the medians of their
 * ratios.
 */
async function grownPhase(databaseUrl: string | undefined) {
  const grown = await freshStore(databaseUrl, 'pw_bench_grown');
  try {
    await growStore(grown.env, GROWN);
    const ratios = { backlog: [] as number[], p50: [] as number[], p99: [] as number[] };
    const line = (f: Awaited<ReturnType<typeof storeFigures>>) =>
      `backlog ${f.backlog.toFixed(0)} runs/s, enqueue->started p50 ${f.p50} / p99 ${f.p99} ms`;
    console.log(
      `  grown store (${GROWN} finished runs) against an empty one, at ${OFFERED_RPS} runs/s offered for ${OFFERED_SECONDS} s:`,
    );
    for (let round = 1; round <= GROWN_ROUNDS; round++) {
      const onEmpty = await storeFigures(databaseUrl);
      const onGrown = await storeFigures(databaseUrl, grown);
      ratios.backlog.push(onGrown.backlog / onEmpty.backlog);
      ratios.p50.push(onGrown.p50 / onEmpty.p50);
      ratios.p99.push(onGrown.p99 / onEmpty.p99);
      console.log(`    round ${round}: empty ${line(onEmpty)}; grown ${line(onGrown)}`);
    }
    console.log(
      `    grown/empty, median of ${GROWN_ROUNDS}: backlog throughput ${median(ratios.backlog).toFixed(2)}x, ` +
        `latency p50 ${median(ratios.p50).toFixed(2)}x / p99 ${median(ratios.p99).toFixed(2)}x`,
    );
  } finally {
    grown.drop();
  }
}

async function main() {
  const targets: [string, string | undefined][] = [['embedded (PGlite on disk)', undefined]];
  if (process.env.PUSHWORKER_TEST_DATABASE_URL)
    targets.push(['Postgres', process.env.PUSHWORKER_TEST_DATABASE_URL]);
  const only = process.env.BENCH_ONLY; // 'embedded' or 'postgres'
  for (const [label, databaseUrl] of targets) {
    if (only && !label.toLowerCase().includes(only)) continue;
    const goals = databaseUrl ? STORE_GOALS.postgres : STORE_GOALS.embedded;
    console.log(`\n${label}`);
    const ratios: number[] = [];
    const singles: number[] = [];
    for (let round = 1; PHASES.has('throughput') && round <= ROUNDS; round++) {
      const baseline = await bareRate(3);
      const { backlog, single } = await withEngine(databaseUrl, 256, async (engine) => {
        await backlogRate(engine); // warm-up
        return { backlog: await backlogRate(engine), single: await singleEnqueueRate(engine, 3) };
      });
      ratios.push(backlog / baseline);
      singles.push(single / baseline);
      console.log(
        `  round ${round}: bare route ${baseline.toFixed(0)} req/s; backlog ${backlog.toFixed(0)} runs/s ` +
          `(${(backlog / baseline).toFixed(3)}x); single enqueues ${single.toFixed(0)} runs/s (${(single / baseline).toFixed(3)}x)`,
      );
    }
    if (ratios.length > 0)
      console.log(
        `  throughput: median ${median(ratios).toFixed(3)}x the bare route (goal >= ${goals.backlog}x); ` +
          `single-enqueue median ${median(singles).toFixed(3)}x`,
      );
    if (PHASES.has('latency')) {
      // The baseline first: the same phase with every event posted (answerWithinMs 0), on a store of its own.
      const posted = await freshStore(databaseUrl);
      const baseline = await withEngine(
        databaseUrl,
        256,
        async (engine, worker) => {
          await backlogRate(engine); // warm-up
          return offeredLatency(engine, worker!);
        },
        undefined,
        { ...posted, env: { ...posted.env, BENCH_ANSWER_WITHIN_MS: '0' } },
      ).finally(() => posted.drop());
      const latency = await withEngine(
        databaseUrl,
        256,
        async (engine, worker) => {
          await backlogRate(engine); // warm-up
          return { ...(await offeredLatency(engine, worker!)), split: '' };
        },
        async (measured, env) => ({ ...measured, split: await latencySplit(env, measured.phaseStart) }),
      );
      console.log(
        `  baseline, every event posted (answerWithinMs 0): from the scheduled send p50 ${baseline.clientP50} ms / ` +
          `p99 ${baseline.clientP99} ms; CPU a run: engine ${baseline.cpu.engine.toFixed(2)} ms, ` +
          `worker ${baseline.cpu.worker.toFixed(2)} ms; peak RSS together ${mb(baseline.peak.together)}`,
      );
      console.log(
        `  dispatch latency at ${OFFERED_RPS} runs/s offered for ${OFFERED_SECONDS} s (open loop, ${latency.started} runs): ` +
          `enqueue->started p50 ${latency.p50} ms / p99 ${latency.p99} ms; ` +
          `from the scheduled send p50 ${latency.clientP50} ms / p99 ${latency.clientP99} ms ` +
          `(goals ${SEND_GOALS.p50} / ${SEND_GOALS.p99} ms); last send ${latency.lateSend} ms late` +
          (latency.split ? `\n    split: ${latency.split}` : '') +
          `\n    CPU a run: engine ${latency.cpu.engine.toFixed(2)} ms (goal <= ${goals.engineCpuMs}; ` +
          `${(latency.cpu.engine / baseline.cpu.engine).toFixed(2)}x the baseline), ` +
          `worker ${latency.cpu.worker.toFixed(2)} ms (goal <= ${WORKER_CPU_GOAL_MS}; ` +
          `${(latency.cpu.worker / baseline.cpu.worker).toFixed(2)}x the baseline), ` +
          `load generator ${latency.cpu.bench.toFixed(2)} ms ` +
          `(${OFFERED_SECONDS} s of ${OFFERED_RPS} runs/s on ${availableParallelism()} cores)` +
          `\n    peak RSS, engine and worker together: ${mb(latency.peak.together)} (goal <= ${LATENCY_RSS_GOAL_MB} MB on ` +
          `Postgres); engine alone ${mb(latency.peak.engine)}, worker alone ${mb(latency.peak.worker)}`,
      );
    }
    if (PHASES.has('workflow')) {
      const bare = await bareRoundTrip(WORKFLOW_RUNS);
      const chain = await withEngine(
        databaseUrl,
        16,
        (engine) => chainLatency(engine, WORKFLOW_RUNS),
        undefined,
        undefined,
        'chain',
      );
      console.log(
        `  workflow: a three-task chain, one run at a time (${WORKFLOW_RUNS} runs): send->last task finished ` +
          `p50 ${chain.p50} ms / p99 ${chain.p99} ms (goal p50 <= ${CHAIN_P50_GOAL_MS} ms); bare route round trip in the same run ` +
          `p50 ${bare.p50.toFixed(2)} ms / p99 ${bare.p99.toFixed(2)} ms (p50 ${(chain.p50 / bare.p50).toFixed(1)}x)`,
      );
    }
    if (PHASES.has('durable')) {
      const bare = await bareRoundTrip(DURABLE_RUNS);
      const late = await withEngine(
        databaseUrl,
        16,
        (engine) => wakeLateness(engine, DURABLE_RUNS),
        undefined,
        undefined,
        'chain',
      );
      console.log(
        `  durable: ${DURABLE_RUNS} runs sleeping ${DURABLE_SLEEP_MS} ms, one started every ${DURABLE_GAP_MS} ms: ` +
          `resumed past the due time p50 ${late.p50} ms / p99 ${late.p99} ms / max ${late.max} ms (goal p99 <= ${WAKE_P99_GOAL_MS} ms); ` +
          `bare route round trip in the same run p50 ${bare.p50.toFixed(2)} ms / p99 ${bare.p99.toFixed(2)} ms`,
      );
    }
    if (PHASES.has('grown')) await grownPhase(databaseUrl);
    if (!PHASES.has('memory')) continue;
    const memory = await withEngine(databaseUrl, 0, queuedMemory);
    console.log(
      `  engine RSS: ${mb(memory.idle)} idle, peak ${mb(memory.peak)} while enqueueing ${QUEUED} runs, ` +
        `${mb(memory.after)} with them queued (goal <= ${goals.queuedMb} MB); process high-water mark ${mb(memory.hwm)}`,
    );
  }
}

await main();
process.exit(0);
