// The engine harness of the engine and security suites: one store per test file, an engine served on loopback
// per test, real workers (createWorker) beside it, and a client.
//
// Workers are served through the Node adapter's `requestListener` on a server bound to port 0 before the worker
// is made: a registering worker must know its URL before it starts, and `serve` tells its port only once bound.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { z } from 'zod';
import { requestListener } from '../../adapters/node.ts';
import { type Client, createClient } from '../../src/client/index.ts';
import {
  createEngine,
  type Engine,
  type EngineOptions,
  type ServedEngine,
  serveEngine,
} from '../../src/engine/index.ts';
import { openStore, type Sql, truncateAll } from '../../src/engine/store/index.ts';
import {
  type AnyTask,
  createLogger,
  createWorker,
  NonRetryableError,
  type TaskContext,
  task,
  type Worker,
  type WorkerOptions,
} from '../../src/index.ts';
import type { Registration, RunEvent, WorkerHeartbeat } from '../../src/protocol/schemas.ts';
import { closeServer } from './sink.ts';
import { until } from './until.ts';

export { until };

export const API_TOKEN = `pwa_test_${crypto.randomUUID()}`;

/**
 * Engine timings short enough for tests: leases and silent workers noticed within seconds. Test workers listen on
 * loopback, so private targets are allowed.
 */
export const fast: EngineOptions = {
  allowPrivateTargets: true,
  leaseMs: 1_500,
  workerTimeoutMs: 1_500,
  sweepIntervalMs: 100,
  pollIntervalMs: 50,
  retryBaseMs: 20,
  retryMaxMs: 200,
  apiTokens: [API_TOKEN],
};

/** A task that takes any input. */
export function job(
  name: string,
  run: (input: unknown, ctx: TaskContext) => unknown,
  options: { timeoutMs?: number; retries?: number; slotCost?: number } = {},
): AnyTask {
  return task({ name, input: z.unknown(), run, ...options });
}

/** Resolves after `ms`, or rejects with the signal's reason once it fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** A task body that runs until its signal fires (cancel, timeout, stale, shutdown). */
export const untilStopped = (_input: unknown, ctx: TaskContext): Promise<never> =>
  new Promise((_, reject) => {
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
  });

/** A promise the test ends: `await gate.opened` in a task, `gate.open(value)` in the test. */
export function gate<T = void>(): { opened: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

export const echo = job('echo', (input) => input);
export const sleepTask = task({
  name: 'sleep',
  input: z.object({ ms: z.number() }),
  run: async ({ ms }, ctx) => {
    await sleep(ms, ctx.signal);
    return { slept: ms };
  },
});
export const fail = task({
  name: 'fail',
  input: z.object({ message: z.string().default('failed on purpose'), retryable: z.boolean().optional() }),
  run: ({ message, retryable }) => {
    throw retryable === false ? new NonRetryableError(message) : new Error(message);
  },
});
/** What a worker serves unless told otherwise. */
export const defaultTasks: AnyTask[] = [echo, sleepTask, fail];

export interface AddWorkerOptions extends Partial<Omit<WorkerOptions, 'name'>> {
  /** Register and heartbeat (default true); false for a worker the engine registers by URL, or none at all. */
  start?: boolean;
  /** Return only once the engine lists the worker ACTIVE (default: when it starts). */
  waitActive?: boolean;
  /** How long `close` lets runs finish before aborting them (default 100 ms). */
  graceMs?: number;
}

export interface HarnessWorker {
  readonly name: string;
  readonly worker: Worker;
  /** The endpoint's URL, as registered (like `serve`'s, with no trailing slash). */
  readonly url: string;
  /** Its worker token. */
  readonly token: string;
  /** The engine's id for it, once the engine lists it. */
  id: string | undefined;
  /** Every task body started here, in order. */
  readonly started: { runId: string; attempt: number }[];
  /** Every run whose signal fired here, with the reason's name (Cancelled, TimeoutError, Stale, WorkerShutdown). */
  readonly aborted: { runId: string; attempt: number; reason: string }[];
  /** Stops as `serve` does: no new runs, runs finish or are aborted after the grace period, STOPPED, socket closed. */
  close(): Promise<void>;
  /**
   * Dies like a killed process: its network is cut and its socket closed, so nothing more reaches the engine
   * (no heartbeat, no event, no answer). It is then stopped quietly, only to end its timers.
   */
  kill(): Promise<void>;
}

/** The engine's worker API called by hand with a worker token, for what the engine answers any caller. */
export interface WorkerApi {
  register(manifest: Registration): Promise<{ status: number; body: any }>;
  heartbeat(
    workerId: string,
    state?: WorkerHeartbeat['state'],
    slots?: WorkerHeartbeat['slots'],
  ): Promise<number>;
  events(events: RunEvent[]): Promise<{ status: number; body: any }>;
}

export interface Harness {
  engine: Engine;
  served: ServedEngine;
  url: string;
  client: Client;
  /** The engine's background errors and every worker's log lines (debug and up, each with `worker=<name>`). */
  logs: string[];
  workers: HarnessWorker[];
  addWorker(name: string, options?: AddWorkerOptions): Promise<HarnessWorker>;
  asWorker(token: string): WorkerApi;
  close(): Promise<void>;
}

/**
 * One store for the test file (opening one takes seconds) and a fresh engine on it per test, closed after the
 * test: `const harness = harnessPerTest()`, then `h = await harness.start(options)` in each test.
 */
export function harnessPerTest(open: () => Promise<Sql> = () => openStore()): {
  readonly sql: Sql;
  start(options?: EngineOptions): Promise<Harness>;
} {
  let sql: Sql | undefined;
  let current: Harness | undefined;
  beforeAll(async () => {
    sql = await open();
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  afterAll(async () => {
    await sql?.close();
  });
  return {
    get sql() {
      return sql!;
    },
    async start(options) {
      current = await startHarness(sql!, options);
      return current;
    },
  };
}

/** An engine on `sql`, emptied first, served on loopback; `options` go over `fast`. */
export async function startHarness(sql: Sql, options: EngineOptions = {}): Promise<Harness> {
  await truncateAll(sql);
  const logs: string[] = [];
  const engine = await createEngine({
    ...fast,
    ...options,
    sql,
    onError: (error) => {
      logs.push(`engine error: ${(error as Error)?.stack ?? String(error)}`);
      console.error('engine background error:', error);
    },
  });
  const served = await serveEngine(engine);
  const client = createClient({ url: served.url, token: API_TOKEN });
  const workers: HarnessWorker[] = [];
  return {
    engine,
    served,
    url: served.url,
    client,
    logs,
    workers,
    async addWorker(name, options = {}) {
      const token = options.token ?? (await engine.createToken('worker', name)).token;
      const worker = await startWorker(name, { ...options, token, engineUrl: served.url, logs });
      workers.push(worker);
      if (options.waitActive ?? options.start !== false) {
        worker.id = await until(
          async () => (await client.listWorkers()).find((w) => w.name === name && w.state === 'ACTIVE')?.id,
          `worker ${name} to register`,
          { detail: () => logs.filter((l) => l.includes(`worker=${name}`)).slice(-5) },
        );
      }
      return worker;
    },
    asWorker: (token) => workerApi(served.url, token),
    async close() {
      await Promise.all(workers.splice(0).map((w) => w.close()));
      await served.close();
    },
  };
}

/**
 * A real worker for the engine at `engineUrl`, on a loopback port of its own: the default tasks (or `tasks`),
 * each instrumented to record what started and what was aborted.
 */
export async function startWorker(
  name: string,
  options: AddWorkerOptions & { engineUrl: string; token: string; logs?: string[] },
): Promise<HarnessWorker> {
  const { start = true, graceMs = 100, logs, waitActive: _, ...over } = options;
  const started: HarnessWorker['started'] = [];
  const aborted: HarnessWorker['aborted'] = [];
  const instrument = (t: AnyTask): AnyTask => ({
    ...t,
    run: (input, ctx) => {
      const ref = { runId: ctx.runId, attempt: ctx.attempt };
      started.push(ref);
      ctx.signal.addEventListener('abort', () =>
        aborted.push({ ...ref, reason: (ctx.signal.reason as Error).name }),
      );
      return t.run(input, ctx);
    },
  });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let cut = false;
  const network = over.fetch ?? fetch;
  const worker = createWorker({
    name,
    url,
    slots: 4,
    keys: { jwksUrl: `${options.engineUrl}/.well-known/jwks.json` },
    heartbeatMs: 200,
    eventRetry: { baseMs: 20, maxMs: 200 },
    logger: createLogger('debug', (line) => logs?.push(line), { worker: name }),
    ...over,
    tasks: (over.tasks ?? defaultTasks).map(instrument),
    // Not through workflow(): the instrumented copies name the original tasks as parents, as user code does.
    workflows: over.workflows?.map((w) => ({ ...w, tasks: w.tasks.map(instrument) })),
    fetch: (input, init) =>
      cut ? Promise.reject(new TypeError('fetch failed: the process is gone')) : network(input, init),
  });
  server.on('request', requestListener(worker));
  if (start) worker.start();
  let stopping: Promise<void> | undefined;
  const handle: HarnessWorker = {
    name,
    worker,
    url,
    token: options.token,
    id: undefined,
    started,
    aborted,
    close() {
      stopping ??= worker.stop({ graceMs }).then(() => closeSocket(server));
      return stopping;
    },
    async kill() {
      cut = true;
      await closeSocket(server);
      stopping ??= worker.stop({ graceMs: 0 });
    },
  };
  return handle;
}

/** Closes the worker's socket, once (a killed worker is closed again at the end of the test). */
function closeSocket(server: Server): Promise<void> {
  return server.listening ? closeServer(server) : Promise.resolve();
}

export function workerApi(engineUrl: string, token: string): WorkerApi {
  const call = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${engineUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    register: (manifest) => call('PUT', '/v1/workers', manifest),
    heartbeat: async (workerId, state = 'ACTIVE', slots) =>
      (
        await call('POST', `/v1/workers/${encodeURIComponent(workerId)}/heartbeat`, {
          state,
          ...(slots ? { slots } : {}),
        })
      ).status,
    events: (events) => call('POST', '/v1/events', { events }),
  };
}

/** The sum of every series of a metric whose line starts with `name` (a name, or a name and labels). */
export function metricSum(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && /^[^\s{]+(\{[^}]*\})? /.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

/** `metricSum` over the engine's `/metrics`. */
export async function engineMetric(h: Pick<Harness, 'url'>, name: string): Promise<number> {
  return metricSum(await (await fetch(`${h.url}/metrics`)).text(), name);
}
