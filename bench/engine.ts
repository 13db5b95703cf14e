// Engine benchmark: no-op runs end to end through the engine and one example Node worker on loopback, for the
// embedded store and (when PUSHWORKER_TEST_DATABASE_URL is set) Postgres, with a bare Hono route as baseline.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createClient } from '../src/client/index.ts';
import { createEngine, serveEngine } from '../src/engine/index.ts';

const API_TOKEN = 'bench-api-token-0123456789';
const RUNS = Number(process.env.BENCH_RUNS ?? 5_000);
const OFFERED_RPS = 500;
const OFFERED_SECONDS = 5;
const QUEUED = Number(process.env.BENCH_QUEUED ?? 100_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function bareHonoRate(seconds: number): Promise<number> {
  const app = new Hono().post('/', async (c) => c.json({ ok: true, echo: await c.req.json() }));
  const port = await freePort();
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  let done = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (Date.now() < end) {
        const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{"message":"hi"}' });
        await r.arrayBuffer();
        done++;
      }
    }),
  );
  server.close();
  return done / seconds;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function measure(label: string, databaseUrl?: string) {
  const engine = await createEngine({ apiTokens: [API_TOKEN], databaseUrl, onError: () => {} });
  if (databaseUrl) await engine.sql.query('TRUNCATE pw_runs, pw_workers, pw_sticky');
  const served = await serveEngine(engine);
  const client = createClient({ url: served.url, token: API_TOKEN });
  const { token } = await engine.createToken('worker', 'bench');
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'examples/node/worker.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      PUSHWORKER_NAME: 'bench',
      PUSHWORKER_SLOTS: '256',
      PUSHWORKER_JWKS_URL: `${served.url}/.well-known/jwks.json`,
      PUSHWORKER_ENGINE_URL: served.url,
      PUSHWORKER_TOKEN: token,
      PUSHWORKER_URL: `http://127.0.0.1:${port}/`,
      PUSHWORKER_LOG_LEVEL: 'error',
    },
    stdio: 'ignore',
  });
  try {
    while (!(await client.listWorkers()).some((w) => w.state === 'ACTIVE')) await sleep(50);
    const count = async (state: string) =>
      (
        await engine.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM pw_runs WHERE state = $1', [
          state,
        ])
      )[0]!.n;

    // Throughput: a backlog of no-op runs drained end to end.
    const start = Date.now();
    for (let i = 0; i < RUNS; i += 1000) {
      await client.enqueueMany(
        Array.from({ length: Math.min(1000, RUNS - i) }, () => ({ task: 'echo', input: { message: 'x' } })),
      );
    }
    while ((await count('COMPLETED')) < RUNS) await sleep(20);
    const runsPerS = RUNS / ((Date.now() - start) / 1000);

    // Latency: enqueue-to-started at a fixed offered load.
    await engine.sql.query('DELETE FROM pw_runs');
    const ids: string[] = [];
    const t0 = Date.now();
    const total = OFFERED_RPS * OFFERED_SECONDS;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / OFFERED_RPS;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      sends.push(client.enqueue({ task: 'echo', input: { message: 'x' } }).then((r) => ids.push(r.id)));
    }
    await Promise.all(sends);
    while ((await count('COMPLETED')) < total) await sleep(20);
    const rows = await engine.sql.query<{ ms: number }>(
      'SELECT started_at - created_at AS ms FROM pw_runs WHERE started_at IS NOT NULL ORDER BY 1',
    );
    const latencies = rows.map((r) => r.ms);

    // Memory: a deep queue with no worker to take it.
    await stopChild(child);
    peakRss = process.memoryUsage().rss;
    for (let i = 0; i < QUEUED; i += 1000) {
      await client.enqueueMany(
        Array.from({ length: 1000 }, () => ({ task: 'queued-only', input: { message: 'x' } })),
      );
    }
    await sleep(1500);
    const queuedRss = peakRss;
    return { label, runsPerS, p50: percentile(latencies, 50), p99: percentile(latencies, 99), queuedRss };
  } finally {
    await stopChild(child);
    if (databaseUrl) await engine.sql.query('TRUNCATE pw_runs, pw_workers, pw_sticky');
    await served.close();
  }
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

const baseline = await bareHonoRate(3);
console.log(`bare Hono route: ${baseline.toFixed(0)} req/s (baseline)`);
const targets: [string, string | undefined][] = [['embedded (PGlite)', undefined]];
if (process.env.PUSHWORKER_TEST_DATABASE_URL)
  targets.push(['Postgres', process.env.PUSHWORKER_TEST_DATABASE_URL]);
for (const [label, url] of targets) {
  const r = await measure(label, url);
  console.log(
    `${r.label}: ${r.runsPerS.toFixed(0)} runs/s (${(r.runsPerS / baseline).toFixed(3)}x baseline; goal >= 0.25x), ` +
      `dispatch p50 ${r.p50.toFixed(1)} ms / p99 ${r.p99.toFixed(1)} ms at ${OFFERED_RPS} runs/s offered ` +
      `(goals 5 / 25 ms), RSS with ${QUEUED} queued ${(r.queuedRss / 2 ** 20).toFixed(0)} MB (goal <= 200 MB)`,
  );
}
clearInterval(sampler);
process.exit(0);
