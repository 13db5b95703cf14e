import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Sql } from '../../src/engine/store/index.ts';
import { type ExampleWorker, spawnExampleWorker, stopExampleWorker } from './support/example-worker.ts';
import { type Harness, startHarness, until } from './support/harness.ts';

let sql: Sql;
let h: Harness;
const children: ExampleWorker[] = [];

beforeAll(async () => {
  sql = await openStore();
});
afterAll(async () => {
  await sql.close();
});
afterEach(async () => {
  for (const child of children.splice(0)) await stopExampleWorker(child, 'SIGKILL');
  await h?.close();
});

async function exampleWorker(name: string, slots = 4): Promise<ExampleWorker> {
  const { token } = await h.engine.createToken('worker', name);
  const child = await spawnExampleWorker({ engineUrl: h.url, token, name, slots });
  children.push(child);
  await until(
    async () => (await h.client.listWorkers()).some((w) => w.name === name && w.state === 'ACTIVE'),
    `${name} to register`,
  );
  return child;
}

describe('end to end with the example Node worker', () => {
  it('runs echo, retries fail up to its retries, and stops at NonRetryableError', async () => {
    h = await startHarness(sql);
    await exampleWorker('example-1');
    const echo = await h.client.enqueue({ task: 'echo', input: { message: 'hello' } });
    expect(await h.client.waitRun(echo.id, { timeoutMs: 15_000 })).toMatchObject({
      state: 'COMPLETED',
      output: { message: 'hello' },
    });
    const retried = await h.client.enqueue({ task: 'fail', input: { message: 'again' } });
    expect(await h.client.waitRun(retried.id, { timeoutMs: 15_000 })).toMatchObject({
      state: 'FAILED',
      attempt: 3,
    });
    const final = await h.client.enqueue({ task: 'fail', input: { message: 'no', retryable: false } });
    expect(await h.client.waitRun(final.id, { timeoutMs: 15_000 })).toMatchObject({
      state: 'FAILED',
      attempt: 1,
      error: { retryable: false },
    });
  });

  it('cancels a sleeping run on the worker', async () => {
    h = await startHarness(sql);
    await exampleWorker('example-1', 1);
    const run = await h.client.enqueue({ task: 'sleep', input: { ms: 60_000 } });
    await until(async () => (await h.client.getRun(run.id)).state === 'RUNNING', 'running');
    expect((await h.client.cancel(run.id)).state).toBe('CANCELLED');
    const next = await h.client.enqueue({ task: 'echo', input: { message: 'after' } });
    expect((await h.client.waitRun(next.id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
  });

  it('fails a run past its timeout', async () => {
    h = await startHarness(sql);
    await exampleWorker('example-1');
    const run = await h.client.enqueue({ task: 'sleep', input: { ms: 60_000 }, timeoutMs: 300, retries: 0 });
    expect((await h.client.waitRun(run.id, { timeoutMs: 15_000 })).state).toBe('FAILED');
  });

  it('finishes the runs of a worker killed with SIGKILL on a second worker after the lease', async () => {
    h = await startHarness(sql);
    const doomed = await exampleWorker('doomed', 2);
    const runs = await h.client.enqueueMany([
      { task: 'sleep', input: { ms: 3_000 } },
      { task: 'sleep', input: { ms: 3_000 } },
    ]);
    await until(async () => {
      const views = await Promise.all(runs.map((r) => h.client.getRun(r.id)));
      return views.every((v) => v.state === 'RUNNING');
    }, 'both running');
    await stopExampleWorker(doomed, 'SIGKILL');
    await exampleWorker('rescuer', 2);
    for (const r of runs) {
      expect(await h.client.waitRun(r.id, { timeoutMs: 20_000 })).toMatchObject({
        state: 'COMPLETED',
        attempt: 2,
      });
    }
    const workers = await h.client.listWorkers();
    const rescuer = workers.find((w) => w.name === 'rescuer')!;
    expect(workers.find((w) => w.name === 'doomed')?.state).toBe('INACTIVE');
    for (const r of runs) expect((await h.client.getRun(r.id)).workerId).toBe(rescuer.id);
  });
});
