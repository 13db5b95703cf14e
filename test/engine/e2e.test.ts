import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Sql } from '../../src/engine/store/index.ts';
import { type Harness, startHarness, until } from '../support/engine.ts';
import { type ExampleWorker, spawnExampleWorker, stopExampleWorker } from './support/example-worker.ts';

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

async function exampleWorker(
  name: string,
  slots = 4,
  labels?: Record<string, string>,
): Promise<ExampleWorker> {
  const { token } = await h.engine.createToken('worker', name);
  const child = await spawnExampleWorker({
    engineUrl: h.url,
    token,
    name,
    slots,
    ...(labels ? { labels } : {}),
  });
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

describe('placement end to end with two example Node workers', () => {
  const idOf = async (name: string) => (await h.client.listWorkers()).find((w) => w.name === name)!.id;
  const done = (runs: { id: string }[]) =>
    Promise.all(runs.map((r) => h.client.waitRun(r.id, { timeoutMs: 20_000 })));

  it('sends runs to the worker with the required labels, and to the preferred one', async () => {
    h = await startHarness(sql);
    await exampleWorker('eu', 4, { region: 'eu', tier: 'gpu' });
    await exampleWorker('us', 4, { region: 'us' });
    const [eu, us] = [await idOf('eu'), await idOf('us')];
    const required = await done(
      await h.client.enqueueMany(
        Array.from({ length: 8 }, (_, i) => ({
          task: 'echo',
          input: { message: `r${i}` },
          affinity: { required: { region: 'eu' } },
        })),
      ),
    );
    expect(required.map((r) => [r.state, r.workerId])).toEqual(required.map(() => ['COMPLETED', eu]));
    const preferred = await done(
      await h.client.enqueueMany(
        Array.from({ length: 3 }, (_, i) => ({
          task: 'echo',
          input: { message: `p${i}` },
          affinity: { preferred: [{ labels: { region: 'us' }, weight: 5 }] },
        })),
      ),
    );
    expect(preferred.map((r) => [r.state, r.workerId])).toEqual(preferred.map(() => ['COMPLETED', us]));
    const nowhere = await h.client.enqueue({
      task: 'echo',
      input: { message: 'x' },
      affinity: { required: { region: 'us', tier: 'gpu' } },
    });
    expect((await h.client.waitRun(nowhere.id, { timeoutMs: 500 })).state).toBe('QUEUED');
  });

  it('keeps one hard sticky key on one worker while another key may go elsewhere', async () => {
    h = await startHarness(sql);
    await exampleWorker('a', 4);
    await exampleWorker('b', 4);
    const runs = await done(
      await h.client.enqueueMany(
        Array.from({ length: 12 }, (_, i) => ({
          task: 'sleep',
          input: { ms: 30 },
          sticky: { key: i % 2 === 0 ? 'cart-1' : 'cart-2', mode: 'hard' as const },
        })),
      ),
    );
    expect(runs.every((r) => r.state === 'COMPLETED')).toBe(true);
    const cart1 = new Set(runs.filter((_, i) => i % 2 === 0).map((r) => r.workerId));
    const cart2 = new Set(runs.filter((_, i) => i % 2 === 1).map((r) => r.workerId));
    expect(cart1.size).toBe(1);
    expect(cart2.size).toBe(1);
  });

  it('never runs more than the limit of one concurrency key at once across both workers', async () => {
    // A lease long enough that a busy machine never has an attempt delivered twice: a second delivery would run
    // beside the first, which the key no longer counts (at-least-once), and the spans below would overlap.
    h = await startHarness(sql, { leaseMs: 15_000, workerTimeoutMs: 15_000 });
    await exampleWorker('a', 4);
    await exampleWorker('b', 4);
    const runs = await done(
      await h.client.enqueueMany(
        Array.from({ length: 10 }, () => ({
          task: 'sleep',
          input: { ms: 100 },
          concurrency: { key: 'tenant-7', limit: 2 },
        })),
      ),
    );
    expect(runs.every((r) => r.state === 'COMPLETED')).toBe(true);
    expect(runs.map((r) => r.attempt)).toEqual(runs.map(() => 1));
    const spans = runs.map((r) => [Date.parse(r.startedAt!), Date.parse(r.finishedAt!)] as const);
    // The most runs under way at one instant: the count peaks at some run's start. (Counting every run that
    // overlaps a run's whole span would count one that ended early and one that started late in the same slot.)
    const atStart = spans.map(([start]) => spans.filter(([s, e]) => s <= start && start < e).length);
    expect(Math.max(...atStart)).toBeLessThanOrEqual(2);
    expect(new Set(runs.map((r) => r.workerId)).size).toBe(2);
  });
});
