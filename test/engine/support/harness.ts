// Engine test harness: one store per file, a served engine per test, workers on loopback, a client.

import { afterAll, afterEach, beforeAll } from 'vitest';
import { createClient } from '../../../src/client/index.ts';
import { createEngine, type Engine, type EngineOptions, serveEngine } from '../../../src/engine/index.ts';
import { openStore, type Sql, truncateAll } from '../../../src/engine/store/index.ts';
import { until } from '../../support/until.ts';
import { TestWorker, type TestWorkerOptions } from './worker.ts';

export { until };

export const API_TOKEN = 'test-api-token-0123456789';

export interface Harness {
  engine: Engine;
  url: string;
  client: ReturnType<typeof createClient>;
  workers: TestWorker[];
  addWorker(
    options: Omit<TestWorkerOptions, 'engineUrl' | 'token'> & { token?: string },
  ): Promise<TestWorker>;
  close(): Promise<void>;
}

export const fast: EngineOptions = {
  leaseMs: 1_500,
  workerTimeoutMs: 1_500,
  sweepIntervalMs: 100,
  pollIntervalMs: 100,
  retryBaseMs: 50,
  retryMaxMs: 200,
  apiTokens: [API_TOKEN],
};

/**
 * One in-memory store for the test file (creating one takes seconds) and a fresh engine on it per test,
 * closed after the test: `const harness = harnessPerTest()`, then `h = await harness.start(options)`.
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

export async function startHarness(sql: Sql, options: EngineOptions = {}): Promise<Harness> {
  await truncateAll(sql);
  const engine = await createEngine({
    ...fast,
    ...options,
    sql,
    onError: (error) => console.error('engine background error:', error),
  });
  const served = await serveEngine(engine);
  const workers: TestWorker[] = [];
  return {
    engine,
    url: served.url,
    client: createClient({ url: served.url, token: API_TOKEN }),
    workers,
    async addWorker(o) {
      const token = o.token ?? (await engine.createToken('worker', o.name)).token;
      const worker = await new TestWorker({ ...o, engineUrl: served.url, token }).start();
      workers.push(worker);
      return worker;
    },
    async close() {
      for (const w of workers) await w.close();
      await served.close();
    },
  };
}
