// Peers benchmark: pushworker (the engine on Postgres and the example worker) beside graphile-worker and pg-boss,
// each in processes of its own on schemas of its own on the same Postgres server, one system at a time and in
// turn within each round (A B C, then B C A, ...). Each system drains a backlog of no-op jobs enqueued in bulk
// before processing starts, with its throughput settings, and then takes an open-loop offered load of single
// enqueues from the same generator, with its latency settings: latency runs from the client's send (the moment
// the generator issues the enqueue call) to the task's start (Date.now() where the task runs, the same clock).
// Baseline: the bare Hono route's rate, as bench/engine.ts measures it, at the start of each round.
import { availableParallelism } from 'node:os';
import pg from 'pg';
import { GRAPHILE_DRAIN_GOAL, SEND_GOALS, STORE_GOALS } from './goals.ts';
import { bareRate, median, openLoop, percentile, RUNS } from './load.ts';
import { graphileWorker } from './peers/graphile-worker.ts';
import { pgBoss } from './peers/pg-boss.ts';
import { pushworker } from './peers/pushworker.ts';
import { type CpuUse, countCpu, type Opened, type System, withApplicationName } from './peers/system.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const OFFERED_RPS = Number(process.env.BENCH_OFFERED_RPS ?? 500);
const OFFERED_SECONDS = Number(process.env.BENCH_OFFERED_SECONDS ?? 10);
/** Jobs drained once, unmeasured, before each system's measured drain. */
const WARM_UP = Math.min(RUNS, 1_000);
// Which systems to run (comma-separated names); all by default, and the ratios need pushworker and the peer.
const ONLY = process.env.BENCH_SYSTEMS?.split(',');
const SYSTEMS: System[] = [pushworker, graphileWorker, pgBoss].filter((s) => !ONLY || ONLY.includes(s.name));

type Figures = {
  drain: number;
  enqueue: number;
  p50: number;
  p99: number;
  /** Offered jobs whose task start was not reported. */
  lost: number;
  lateSend: number;
  cpu: { drain: CpuUse; offered: CpuUse };
};

const perJob = (cpu: CpuUse, jobs: number) =>
  `${(cpu.processes / jobs).toFixed(2)} + Postgres ${(cpu.postgres / jobs).toFixed(2)} ms (bench ${(cpu.bench / jobs).toFixed(2)})`;

/** Jobs/s draining `count` jobs enqueued in bulk before processing starts, timed from the start to the last finish. */
async function drain(system: Opened, count: number, cpuOf?: () => Promise<() => Promise<CpuUse>>) {
  const enqueueStart = performance.now();
  await system.enqueueBulk(0, count);
  const enqueue = count / ((performance.now() - enqueueStart) / 1000);
  const cpu = await cpuOf?.();
  const start = performance.now();
  await system.startProcessing('throughput');
  await system.finished();
  const rate = count / ((performance.now() - start) / 1000);
  const used = await cpu?.();
  await system.stopProcessing();
  return { rate, enqueue, cpu: used };
}

/** Send-to-start latency under OFFERED_RPS single enqueues a second for OFFERED_SECONDS, open loop. */
async function offered(system: Opened, cpuOf: () => Promise<() => Promise<CpuUse>>) {
  const total = OFFERED_RPS * OFFERED_SECONDS;
  await system.startProcessing('latency');
  const sentAt: number[] = [];
  const cpu = await cpuOf();
  const { lateSend } = await openLoop(total, OFFERED_RPS, (job) => {
    sentAt[job] = Date.now();
    return system.enqueue(job);
  });
  await system.finished();
  const used = await cpu();
  const starts = await system.stopProcessing();
  const latencies: number[] = [];
  for (const [job, startedAt] of starts)
    if (sentAt[job] !== undefined) latencies.push(startedAt - sentAt[job]);
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    lost: total - latencies.length,
    lateSend,
    cpu: used,
  };
}

async function measure(system: System, databaseUrl: string, admin: pg.Pool): Promise<Figures> {
  const prefix = `peers_${process.pid}_${system.name.replaceAll('-', '_')}`;
  const opened = await system.open(databaseUrl, prefix);
  try {
    const cpuOf = () => countCpu(admin, prefix, opened.pids);
    await drain(opened, WARM_UP);
    const drained = await drain(opened, RUNS, cpuOf);
    const load = await offered(opened, cpuOf);
    return {
      drain: drained.rate,
      enqueue: drained.enqueue,
      p50: load.p50,
      p99: load.p99,
      lost: load.lost,
      lateSend: load.lateSend,
      cpu: { drain: drained.cpu!, offered: load.cpu },
    };
  } finally {
    await opened.close();
  }
}

function line(name: string, f: Figures, bare: number) {
  const total = OFFERED_RPS * OFFERED_SECONDS;
  return (
    `    ${name}: drain ${f.drain.toFixed(0)} jobs/s (${(f.drain / bare).toFixed(2)}x the bare route; bulk enqueue ` +
    `${f.enqueue.toFixed(0)} jobs/s); offered: send->start p50 ${f.p50} / p99 ${f.p99} ms` +
    (f.lost > 0 ? `, ${f.lost} starts missing` : '') +
    ` (last send ${f.lateSend} ms late)\n      CPU a job: drain ${perJob(f.cpu.drain, RUNS)}; ` +
    `offered ${perJob(f.cpu.offered, total)}`
  );
}

type Ratios = { drain: number; p50: number; p99: number };
const ratios = (a: Figures, b: Figures): Ratios => ({
  drain: a.drain / b.drain,
  p50: a.p50 / b.p50,
  p99: a.p99 / b.p99,
});
const ratioText = (r: Ratios) =>
  `drain ${r.drain.toFixed(2)}x, p50 ${r.p50.toFixed(2)}x, p99 ${r.p99.toFixed(2)}x`;

async function main() {
  const base = process.env.PUSHWORKER_TEST_DATABASE_URL;
  if (!base) {
    console.log('skipped: set PUSHWORKER_TEST_DATABASE_URL to a Postgres server');
    return;
  }
  const admin = new pg.Pool({ connectionString: withApplicationName(base, 'peers_bench_admin'), max: 2 });
  console.log(
    `${RUNS} jobs drained, then ${OFFERED_RPS} jobs/s offered for ${OFFERED_SECONDS} s, a round; ` +
      `${ROUNDS} rounds on ${availableParallelism()} cores; CPU is the system's processes + the Postgres ` +
      `backends of its connections, and this process (load generator and the system's client)`,
  );
  for (const s of SYSTEMS)
    console.log(`  ${s.name}: throughput ${s.settings.throughput}; latency ${s.settings.latency}`);
  const rounds: { bare: number; figures: Map<string, Figures> }[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const bare = await bareRate(3);
      const figures = new Map<string, Figures>();
      console.log(`  round ${round + 1}: bare route ${bare.toFixed(0)} req/s`);
      for (let k = 0; k < SYSTEMS.length; k++) {
        const system = SYSTEMS[(round + k) % SYSTEMS.length]!;
        const f = await measure(system, base, admin);
        figures.set(system.name, f);
        console.log(line(system.name, f, bare));
      }
      rounds.push({ bare, figures });
    }
  } finally {
    await admin.end();
  }
  const of = (name: string) => rounds.map((r) => r.figures.get(name)!);
  console.log(`  median of ${ROUNDS} round(s):`);
  for (const s of SYSTEMS) {
    const fs = of(s.name);
    const drain = median(fs.map((f) => f.drain));
    const vsBare = median(rounds.map((r) => r.figures.get(s.name)!.drain / r.bare));
    console.log(
      `    ${s.name}: drain ${drain.toFixed(0)} jobs/s (${vsBare.toFixed(2)}x the bare route), ` +
        `send->start p50 ${median(fs.map((f) => f.p50))} / p99 ${median(fs.map((f) => f.p99))} ms`,
    );
  }
  if (SYSTEMS.length < 3) return;
  const against = (peer: string): Ratios => {
    const rs = rounds.map((r) => ratios(r.figures.get(pushworker.name)!, r.figures.get(peer)!));
    return {
      drain: median(rs.map((r) => r.drain)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
    };
  };
  const vsGraphile = against(graphileWorker.name);
  const vsPgBoss = against(pgBoss.name);
  console.log(`    pushworker/graphile-worker: ${ratioText(vsGraphile)}`);
  console.log(`    pushworker/pg-boss: ${ratioText(vsPgBoss)}`);
  const pw = of(pushworker.name);
  const p50 = median(pw.map((f) => f.p50));
  const p99 = median(pw.map((f) => f.p99));
  const vsBare = median(rounds.map((r) => r.figures.get(pushworker.name)!.drain / r.bare));
  const met = (ok: boolean) => (ok ? 'met' : 'not met');
  console.log(
    `  goals: send->start at ${OFFERED_RPS}/s p50 <= ${SEND_GOALS.p50} ms and p99 <= ${SEND_GOALS.p99} ms ` +
      `${met(p50 <= SEND_GOALS.p50 && p99 <= SEND_GOALS.p99)}; ` +
      `drain >= ${STORE_GOALS.postgres.backlog}x the bare route ${met(vsBare >= STORE_GOALS.postgres.backlog)}; ` +
      `drain >= ${GRAPHILE_DRAIN_GOAL}x graphile-worker ${met(vsGraphile.drain >= GRAPHILE_DRAIN_GOAL)}; ` +
      `p99 below both peers ${met(vsGraphile.p99 < 1 && vsPgBoss.p99 < 1)}`,
  );
}

await main();
process.exit(0);
