import { afterAll, afterEach, beforeAll } from 'vitest';
import { z } from 'zod';
import { type NodeWorkerServer, serve } from '../../adapters/node.ts';
import { freePort } from '../../src/cli/ports.ts';
import { createClient } from '../../src/client/index.ts';
import {
  createEngine,
  type Engine,
  type EngineOptions,
  type ServedEngine,
  serveEngine,
} from '../../src/engine/index.ts';
import { openStore, type Sql, truncateAll } from '../../src/engine/store/index.ts';
import {
  createLogger,
  createWorker,
  NonRetryableError,
  task,
  type Worker,
  type WorkerOptions,
} from '../../src/index.ts';
import { until } from '../support/until.ts';

export { freePort, until };

export const API_TOKEN = `pwa_security_${crypto.randomUUID()}`;

export interface Stack {
  engine: Engine;
  served: ServedEngine;
  client: ReturnType<typeof createClient>;
  logs: string[];
  /** runId#attempt of every body execution. */
  executions: string[];
  addWorker(
    name: string,
    over?: Partial<WorkerOptions>,
  ): Promise<{ worker: Worker; server: NodeWorkerServer; token: string }>;
  close(): Promise<void>;
}

/**
 * One in-memory store for the test file and a stack on it per test, closed and the store emptied after it:
 * `const stacks = stackPerTest()`, then `stack = await stacks.start(options)`.
 */
export function stackPerTest(): { readonly sql: Sql; start(options?: EngineOptions): Promise<Stack> } {
  let sql: Sql | undefined;
  let current: Stack | undefined;
  beforeAll(async () => {
    sql = await openStore();
  });
  afterAll(() => sql?.close());
  afterEach(async () => {
    await current?.close();
    current = undefined;
    await truncateAll(sql!);
  });
  return {
    get sql() {
      return sql!;
    },
    async start(options) {
      current = await startStack(sql!, options);
      return current;
    },
  };
}

export async function startStack(sql: Sql, options: EngineOptions = {}): Promise<Stack> {
  const logs: string[] = [];
  const executions: string[] = [];
  const engine = await createEngine({
    sql,
    apiTokens: [API_TOKEN],
    leaseMs: 2_000,
    workerTimeoutMs: 2_000,
    sweepIntervalMs: 100,
    pollIntervalMs: 50,
    retryBaseMs: 20,
    retryMaxMs: 100,
    onError: (e) => logs.push(`engine error: ${(e as Error)?.stack ?? String(e)}`),
    ...options,
  });
  const served = await serveEngine(engine);
  const servers: NodeWorkerServer[] = [];
  const tasks = [
    task({
      name: 'echo',
      input: z.object({ message: z.string() }),
      run: (input, ctx) => {
        executions.push(`${ctx.runId}#${ctx.attempt}`);
        return input;
      },
    }),
    task({
      name: 'sleep',
      input: z.object({ ms: z.number() }),
      run: (input, ctx) => {
        executions.push(`${ctx.runId}#${ctx.attempt}`);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => resolve({ slept: input.ms }), input.ms);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(ctx.signal.reason);
          });
        });
      },
    }),
    task({
      name: 'fail',
      input: z.object({ fatal: z.boolean() }),
      retries: 1,
      run: (input, ctx) => {
        executions.push(`${ctx.runId}#${ctx.attempt}`);
        throw input.fatal ? new NonRetryableError('fatal on purpose') : new Error('transient on purpose');
      },
    }),
  ];
  return {
    engine,
    served,
    client: createClient({ url: served.url, token: API_TOKEN }),
    logs,
    executions,
    async addWorker(name, over = {}) {
      const { token } = await engine.createToken('worker', name);
      const port = await freePort();
      const worker = createWorker({
        url: `http://127.0.0.1:${port}/`,
        name,
        tasks,
        slots: 4,
        keys: { jwksUrl: `${served.url}/.well-known/jwks.json` },
        engineUrl: served.url,
        token,
        heartbeatMs: 200,
        eventRetry: { baseMs: 20, maxMs: 200 },
        logger: createLogger('debug', (line) => logs.push(line)),
        ...over,
      });
      const server = await serve(worker, {
        port,
        hostname: '127.0.0.1',
        handleSignals: false,
        graceMs: 2_000,
      });
      servers.push(server);
      return { worker, server, token };
    },
    async close() {
      for (const s of servers) await s.close();
      await served.close();
    },
  };
}
