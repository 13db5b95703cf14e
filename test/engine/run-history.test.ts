// What an operator reads and does with runs: every attempt kept, outputs as returned, retries by id or filter,
// warnings for tasks no worker serves, why pushes fail, runs of a stopping worker kept, gone workers removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type NodeWorkerServer, serve } from '../../adapters/node.ts';
import { createClient } from '../../src/client/index.ts';
import { createEngine, type Engine, type ServedEngine, serveEngine } from '../../src/engine/index.ts';
import { openStore } from '../../src/engine/store/index.ts';
import type { Sql } from '../../src/engine/store/sql.ts';
import { createWorker, NonRetryableError, task } from '../../src/index.ts';
import { until } from '../support/until.ts';

const API_TOKEN = 'pwa_history-test-token-0123456789';
let sql: Sql;
let engine: Engine;
let served: ServedEngine;
const notices: string[] = [];
const client = () => createClient({ url: served.url, token: API_TOKEN });
const servers: NodeWorkerServer[] = [];

const tasks = [
  task({
    name: 'flaky',
    input: z.object({ failures: z.number() }),
    retries: 3,
    run: ({ failures }, ctx) => {
      if (ctx.attempt <= failures) throw new Error(`boom ${ctx.attempt}`);
      return { z: 1, a: 2, nested: { y: 1, b: 2 } };
    },
  }),
  task({
    name: 'once',
    input: z.object({}),
    run: (_input, ctx) => {
      if (ctx.attempt === 1) throw new NonRetryableError('not this time');
      return { attempt: ctx.attempt };
    },
  }),
  task({
    name: 'nap',
    input: z.object({ ms: z.number() }),
    run: ({ ms }, ctx) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve({ slept: ms }), ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(ctx.signal.reason);
        });
      }),
  }),
];

/** A long-lived worker on loopback, registered with the engine under `name`; `path` puts it off its real URL. */
async function startWorker(name: string, path = '', engineUrl = served.url) {
  const { token } = await engine.createToken('worker', name);
  const worker = createWorker({
    name,
    tasks,
    engineUrl,
    token,
    keys: { jwksUrl: `${served.url}/.well-known/jwks.json` },
    heartbeatMs: 200,
    logLevel: 'silent',
  });
  const server = await serve(worker, { port: 0, hostname: '127.0.0.1', start: false, handleSignals: false });
  servers.push(server);
  const registered = await fetch(`${served.url}/v1/workers`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...worker.manifest(), url: `${server.url}${path}` }),
  });
  expect(registered.status).toBe(200);
  const { workerId } = (await registered.json()) as { workerId: string };
  /** Drains the worker and says STOPPED, as a started worker does when it stops. */
  const stop = async () => {
    await worker.stop({ graceMs: 50 });
    const said = await fetch(`${served.url}/v1/workers/${workerId}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'STOPPED' }),
    });
    expect(said.status).toBe(200);
  };
  return { worker, server, workerId, stop };
}

beforeAll(async () => {
  sql = await openStore();
  engine = await createEngine({
    sql,
    apiTokens: [API_TOKEN],
    allowPrivateTargets: true,
    retryBaseMs: 20,
    retryMaxMs: 50,
    sweepIntervalMs: 100,
    pollIntervalMs: 100,
    onNotice: (line) => notices.push(line),
  });
  served = await serveEngine(engine, { port: 0 });
  await startWorker('history');
});

afterAll(async () => {
  for (const server of servers) await server.close();
  await served?.close();
  await sql?.close();
});

describe('a run', () => {
  it('keeps every attempt, each with its worker, times and error, and its output keys in order', async () => {
    const { id } = await client().enqueue({ task: 'flaky', input: { failures: 2 } });
    const done = await client().waitRun(id, { timeoutMs: 15_000 });
    expect(done.state).toBe('COMPLETED');
    expect(Object.keys(done.output as object)).toEqual(['z', 'a', 'nested']);
    expect(Object.keys((done.output as { nested: object }).nested)).toEqual(['y', 'b']);
    const run = await client().getRun(id);
    expect(run.attempts.map((a) => [a.attempt, a.outcome, a.error?.message])).toEqual([
      [1, 'failed', 'boom 1'],
      [2, 'failed', 'boom 2'],
      [3, 'completed', undefined],
    ]);
    expect(run.attempts[0]!.error!.stack).toMatch(/^Error: boom 1\n\s+at /);
    for (const a of run.attempts) {
      expect(a.workerId).toBe(run.workerId);
      expect(Date.parse(a.startedAt!)).toBeLessThanOrEqual(Date.parse(a.endedAt));
    }
    // The run's own start is its last attempt's, not its first.
    expect(Date.parse(run.startedAt!)).toBeGreaterThanOrEqual(Date.parse(run.attempts[1]!.endedAt));
    expect(run.startedAt).toBe(run.attempts[2]!.startedAt);
  });

  it('is queued again by retry, with a fresh budget, and refused while it has not finished', async () => {
    const { id } = await client().enqueue({ task: 'once', input: {} });
    expect((await client().waitRun(id, { timeoutMs: 15_000 })).state).toBe('FAILED');
    const again = await client().retryRun(id);
    expect(again).toMatchObject({ id, state: 'QUEUED', failures: 0 });
    const done = await client().waitRun(id, { timeoutMs: 15_000 });
    expect(done).toMatchObject({ state: 'COMPLETED', output: { attempt: 2 } });
    expect((await client().getRun(id)).attempts.map((a) => a.outcome)).toEqual(['failed', 'completed']);

    const queued = await client().enqueue({ task: 'nosuchtask', input: {} });
    await expect(client().retryRun(queued.id)).rejects.toMatchObject({ code: 'conflict' });
    await expect(client().retryRun('run_none')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('are retried in bulk by state and task', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await client().enqueue({ task: 'once', input: {} })).id);
    for (const id of ids) expect((await client().waitRun(id, { timeoutMs: 15_000 })).state).toBe('FAILED');
    const { runs } = await client().retryRuns({ state: ['FAILED'], task: 'once' });
    expect(runs.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const id of ids) expect((await client().waitRun(id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
    expect((await client().retryRuns({ state: ['FAILED'], task: 'once' })).runs).toEqual([]);
  });

  it('of a task no worker serves is enqueued with a warning and says what it waits for', async () => {
    const enqueued = await client().enqueue({ task: 'nosuchtask', input: {} });
    expect(enqueued.warnings).toEqual([
      expect.stringContaining('no ACTIVE worker serves the task "nosuchtask"'),
    ]);
    expect((await client().getRun(enqueued.id)).waitingFor).toMatch(/a worker that serves this task/);
    const served = await client().enqueue({ task: 'flaky', input: { failures: 0 } });
    expect(served.warnings).toBeUndefined();
    const [bulk] = (await client().enqueueMany([{ task: 'nosuchtask', input: {} }])) as {
      warnings?: string[];
    }[];
    expect(bulk!.warnings).toHaveLength(1);
  });

  it('that its worker gives up while stopping goes back to the queue without counting a failure', async () => {
    const stopping = await startWorker('stopping');
    await client().pauseWorker((await client().listWorkers()).find((w) => w.name === 'history')!.id);
    try {
      const { id } = await client().enqueue({ task: 'nap', input: { ms: 60_000 } });
      await until(async () => (await client().getRun(id)).state === 'RUNNING', 'the nap to run', 15_000);
      await stopping.stop();
      const back = await until(
        async () => {
          const run = await client().getRun(id);
          return run.state === 'QUEUED' && run;
        },
        'the nap to be queued again',
        15_000,
      );
      expect(back.failures).toBe(0);
      expect(back.attempts[0]).toMatchObject({
        attempt: 1,
        outcome: 'requeued',
        error: { name: 'WorkerShutdown' },
      });
      // A push that reached the stopping worker before the engine knew it stopped is answered 503, requeued too.
      expect(back.attempts.map((a) => a.outcome)).toEqual(back.attempts.map(() => 'requeued'));
      await client().cancel(id);
    } finally {
      await client().resumeWorker((await client().listWorkers()).find((w) => w.name === 'history')!.id);
    }
  });
});

describe('a worker', () => {
  it('whose pushes fail says why in the worker list, and the engine says so once', async () => {
    const wrong = await startWorker('misplaced', '/not-the-worker');
    await client().pauseWorker((await client().listWorkers()).find((w) => w.name === 'history')!.id);
    try {
      const { id } = await client().enqueue({ task: 'flaky', input: { failures: 0 } });
      const view = await until(
        async () => (await client().listWorkers()).find((w) => w.id === wrong.workerId && w.pushFailing),
        'the push failure',
        15_000,
      );
      expect(view.pushFailing!.reason).toBe(`404 from ${wrong.server.url}/not-the-worker`);
      await until(async () => (await client().getRun(id)).attempt >= 2, 'a second failed push', 15_000);
      expect(notices.filter((n) => n.includes(wrong.workerId))).toEqual([
        `pushes to worker misplaced (${wrong.workerId}) fail: 404 from ${wrong.server.url}/not-the-worker`,
      ]);
      await client().cancel(id);
    } finally {
      await client().pauseWorker(wrong.workerId);
      await client().resumeWorker((await client().listWorkers()).find((w) => w.name === 'history')!.id);
    }
  });

  it('that reaches the engine by another origin refuses its events URL, and the run says what to set', async () => {
    // localhost and 127.0.0.1 are two origins: the worker trusts the first, the engine names the second.
    const elsewhere = await startWorker('elsewhere', '', served.url.replace('127.0.0.1', 'localhost'));
    await client().pauseWorker((await client().listWorkers()).find((w) => w.name === 'history')!.id);
    try {
      const { id } = await client().enqueue({ task: 'once', input: {}, retries: 0 });
      const failed = await client().waitRun(id, { timeoutMs: 15_000 });
      expect(failed.state).toBe('FAILED');
      expect(failed.error).toMatchObject({ name: 'UntrustedEventsUrl', retryable: true });
      expect(failed.error!.message).toMatch(/PUSHWORKER_EVENTS_ORIGINS/);
    } finally {
      await client().pauseWorker(elsewhere.workerId);
      await client().resumeWorker((await client().listWorkers()).find((w) => w.name === 'history')!.id);
    }
  });

  it('is removed once gone, by an operator or after the expiry, and not while it is ACTIVE', async () => {
    const gone = await startWorker('gone');
    await expect(client().deleteWorker(gone.workerId)).rejects.toMatchObject({ code: 'conflict' });
    await gone.stop();
    await expect(client().deleteWorker(gone.workerId)).resolves.toEqual({ id: gone.workerId, deleted: true });
    await expect(client().deleteWorker(gone.workerId)).rejects.toMatchObject({ code: 'not_found' });

    const expiring = await startWorker('expiring');
    await expiring.stop();
    await engine.sweep();
    expect((await client().listWorkers()).some((w) => w.id === expiring.workerId)).toBe(true);
    await sql.query(
      'UPDATE pw_workers SET last_heartbeat_at = last_heartbeat_at - 2 * 86400000 WHERE id = $1',
      [expiring.workerId],
    );
    await engine.sweep();
    expect((await client().listWorkers()).some((w) => w.id === expiring.workerId)).toBe(false);
  });
});
