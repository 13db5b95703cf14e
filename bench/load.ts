// What the benchmarks that drive the engine share: the engine and bare-route server processes, the example worker,
// API calls over an undici pool, fresh stores, the bare route's rate, and an open-loop load generator.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Pool } from 'undici';
import { bundled } from './bundle.mjs';

const API_TOKEN = 'bench-api-token-0123456789';
export const RUNS = Number(process.env.BENCH_RUNS ?? 5_000);
export const CONNECTIONS = 64;
const PROFILE = process.env.BENCH_PROFILE; // a directory: CPU profiles of the engine there, of the worker in worker/

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export interface Server {
  child: ChildProcess;
  url: string;
  workerToken?: string;
  pool: Pool;
  stop(): Promise<void>;
}

// The servers and the worker run as compiled JavaScript, as deployed ones do, not through a TypeScript loader.
const serverBundle = await bundled('bench/engine-server.ts', 'bench-engine-server', ['bench']);
const workerBundle = await bundled('examples/node/worker.ts', 'bench-example-worker', ['examples']);
const chainWorkerBundle = await bundled('bench/chain-worker.ts', 'bench-chain-worker', ['bench', 'examples']);
/** The example worker, or the example tasks and the chain workflow (bench/chain-worker.ts). */
export type WorkerKind = 'example' | 'chain';
const WORKER_FILES: Record<WorkerKind, { bundle: string | undefined; source: string }> = {
  example: { bundle: workerBundle, source: 'examples/node/worker.ts' },
  chain: { bundle: chainWorkerBundle, source: 'bench/chain-worker.ts' },
};

export async function startServer(
  mode: 'bare' | 'engine',
  env: Record<string, string> = {},
): Promise<Server> {
  const child = fork(
    serverBundle ? new URL(serverBundle) : new URL('./engine-server.ts', import.meta.url),
    [mode],
    {
      env: { ...process.env, BENCH_API_TOKEN: API_TOKEN, ...env },
      execArgv: [
        ...(serverBundle ? [] : ['--import', 'tsx']),
        ...(PROFILE && mode === 'engine' ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : []),
        ...(mode === 'engine' ? (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean) : []),
      ],
    },
  );
  const ready = await new Promise<{ url: string; workerToken?: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { url: string; workerToken?: string }));
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  const pool = new Pool(ready.url, { connections: CONNECTIONS });
  let stopped: Promise<void> | undefined;
  return {
    child,
    ...ready,
    pool,
    stop() {
      stopped ??= (async () => {
        await pool.close();
        const exited = new Promise((r) => child.once('exit', r));
        child.send('exit');
        await exited;
      })();
      return stopped;
    },
  };
}

export async function call<T>(s: Server, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await s.pool.request({
    method,
    path,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text) as T;
}

/** CPU time a process has used, all threads, in ms (Linux /proc; clock ticks are 10 ms). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export async function bareRate(seconds: number): Promise<number> {
  const bare = await startServer('bare');
  try {
    const run = async (ms: number) => {
      let done = 0;
      const end = Date.now() + ms;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (Date.now() < end) {
            await call(bare, 'POST', '/', { message: 'hi' });
            done++;
          }
        }),
      );
      return done;
    };
    await run(500); // warm-up
    return (await run(seconds * 1000)) / seconds;
  } finally {
    await bare.stop();
  }
}

export function spawnWorker(engine: Server, slots: number, kind: WorkerKind): ChildProcess {
  const { bundle, source } = WORKER_FILES[kind];
  return spawn(
    process.execPath,
    [
      ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}/worker`] : []),
      ...(bundle ? [fileURLToPath(bundle)] : ['--import', 'tsx', source]),
    ],
    {
      env: {
        ...process.env,
        // Port 0 on loopback: the worker binds a free port and registers the address it bound.
        PORT: '0',
        HOST: '127.0.0.1',
        PUSHWORKER_NAME: 'bench',
        PUSHWORKER_SLOTS: String(slots),
        PUSHWORKER_JWKS_URL: `${engine.url}/.well-known/jwks.json`,
        PUSHWORKER_ENGINE_URL: engine.url,
        PUSHWORKER_TOKEN: engine.workerToken!,
        PUSHWORKER_LOG_LEVEL: 'error',
      },
      stdio: 'ignore',
    },
  );
}

export async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

type Stats = { tasks: { task: string; queued: number; assigned: number; running: number }[] };
export async function drained(engine: Server, task: string): Promise<void> {
  for (;;) {
    const s = (await call<Stats>(engine, 'GET', '/v1/stats/tasks')).tasks.find((t) => t.task === task);
    if (!s || s.queued + s.assigned + s.running === 0) return;
    await sleep(50);
  }
}

export type Store = { env: Record<string, string>; drop(): void };

/** A fresh store: a temporary data directory, or an emptied schema on the Postgres server. */
export async function freshStore(databaseUrl?: string, schema = 'pw_bench'): Promise<Store> {
  if (!databaseUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'pushworker-bench-'));
    return { env: { BENCH_DATA_DIR: dir }, drop: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { env: { BENCH_DATABASE_URL: url.toString() }, drop: () => {} };
}

/** The id of a worker the engine holds ACTIVE, once there is one. */
export async function activeWorker(engine: Server): Promise<string> {
  type Workers = { workers: { id: string; state: string }[] };
  for (;;) {
    const active = (await call<Workers>(engine, 'GET', '/v1/workers')).workers.find(
      (w) => w.state === 'ACTIVE',
    );
    if (active) return active.id;
    await sleep(50);
  }
}

export async function withEngine<T>(
  databaseUrl: string | undefined,
  slots: number,
  fn: (e: Server, worker?: ChildProcess) => Promise<T>,
  /** Runs on the store after the engine has stopped (PGlite has one user at a time). */
  after?: (result: T, storeEnv: Record<string, string>) => Promise<T>,
  /** A store to use, and keep, instead of a fresh one. */
  given?: Store,
  kind: WorkerKind = 'example',
) {
  const store = given ?? (await freshStore(databaseUrl));
  const engine = await startServer('engine', store.env);
  const worker = slots > 0 ? spawnWorker(engine, slots, kind) : undefined;
  try {
    if (worker) await activeWorker(engine);
    const result = await fn(engine, worker);
    if (worker) await stopChild(worker);
    await engine.stop();
    return after ? await after(result, store.env) : result;
  } finally {
    if (worker) await stopChild(worker);
    await engine.stop();
    if (!given) store.drop();
  }
}

/** Enqueues `count` runs of `task` in bulk, 1000 a request. */
export async function enqueueInBulk(engine: Server, task: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1000) {
    const runs = Array.from({ length: Math.min(1000, count - i) }, () => ({
      task,
      input: { message: 'x' },
    }));
    await call(engine, 'POST', '/v1/runs/bulk', { runs });
  }
}

/** Runs/s draining a backlog enqueued in bulk (1000 per request), end to end. */
export async function backlogRate(engine: Server): Promise<number> {
  const start = Date.now();
  await enqueueInBulk(engine, 'echo', RUNS);
  await drained(engine, 'echo');
  return RUNS / ((Date.now() - start) / 1000);
}

export type RunPage = {
  runs: { id: string; createdAt: string; startedAt: string | null }[];
  nextCursor: string | null;
};

/** The runs of `task`, newest first, a page at a time, for as long as `more` asks for the next page. */
export async function eachRunPage(engine: Server, task: string, more: (runs: RunPage['runs']) => boolean) {
  let cursor: string | null = null;
  do {
    const page: RunPage = await call<RunPage>(
      engine,
      'GET',
      `/v1/runs?task=${task}&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    cursor = page.nextCursor;
    if (!more(page.runs)) return;
  } while (cursor);
}

/**
 * Open loop: issues `total` sends at `rps` a second on schedule, whatever the answers (`at` is each one's due
 * time), and resolves once all have answered, with the first one's due time and how late the last was issued.
 */
export async function openLoop(total: number, rps: number, send: (i: number, at: number) => Promise<void>) {
  const sends: Promise<void>[] = [];
  const t0 = Date.now() + 50;
  let next = 0;
  while (next < total) {
    const now = Date.now();
    for (; next < total && t0 + (next * 1000) / rps <= now; next++)
      sends.push(send(next, t0 + (next * 1000) / rps));
    await sleep(1);
  }
  const lateSend = Date.now() - (t0 + ((total - 1) * 1000) / rps);
  await Promise.all(sends);
  return { t0, lateSend };
}
