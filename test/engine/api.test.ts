import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { createEngine, serveEngine } from '../../src/engine/index.ts';
import {
  API_TOKEN,
  fast,
  type Harness,
  harnessPerTest,
  job,
  metricSum,
  startWorker,
  until,
  untilStopped,
} from '../support/engine.ts';

const harness = harnessPerTest();
let h: Harness;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('engine API', () => {
  it('refuses requests without a valid token of the right kind', async () => {
    h = await harness.start();
    const anonymous = createClient({ url: h.url, token: 'nope' });
    expect(await codeOf(anonymous.enqueue({ task: 'echo' }))).toBe('unauthorized');
    const { token: workerToken } = await h.engine.createToken('worker', 'w1');
    expect(await codeOf(createClient({ url: h.url, token: workerToken }).enqueue({ task: 'echo' }))).toBe(
      'unauthorized',
    );
    const { token: apiToken } = await h.client.createToken('api');
    expect((await createClient({ url: h.url, token: apiToken }).enqueue({ task: 'echo' })).state).toBe(
      'QUEUED',
    );
    expect(await codeOf(h.client.enqueue({ task: '' }))).toBe('invalid_request');
    expect(await codeOf(h.client.getRun('run_missing'))).toBe('not_found');
  });

  it('reads request bodies from the socket within the limit, and refuses larger ones, declared or streamed', async () => {
    h = await harness.start({ maxBodyBytes: 1_000 });
    const bytes = new TextEncoder().encode(
      JSON.stringify({ task: 'echo', input: { text: 'é'.repeat(300) } }),
    );
    const streamOf = (...parts: Uint8Array[]) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      });
    const post = (body: BodyInit) =>
      fetch(`${h.url}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit);

    // Streamed without a length, in chunks that split a two-byte character.
    const accepted = await post(
      streamOf(bytes.subarray(0, 41), bytes.subarray(41, 300), bytes.subarray(300)),
    );
    expect(accepted.status).toBe(201);
    expect(((await accepted.json()) as { input: unknown }).input).toEqual({ text: 'é'.repeat(300) });

    const big = new TextEncoder().encode(JSON.stringify({ task: 'echo', input: 'x'.repeat(1_200) }));
    for (const body of [big, streamOf(big.subarray(0, 600), big.subarray(600))]) {
      const refused = await post(body);
      expect(refused.status).toBe(413);
      expect(refused.headers.get('connection')).toBe('close');
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_large');
    }
    expect((await h.client.listRuns()).runs).toHaveLength(1);
  });

  it('scopes a worker token to its worker name', async () => {
    h = await harness.start();
    const { token } = await h.engine.createToken('worker', 'alpha');
    await h.addWorker('beta', { token, waitActive: false });
    await until(
      () =>
        h.logs.some(
          (l) =>
            l.includes('worker=beta') &&
            l.includes('registration refused: the engine answered 403 forbidden: ') &&
            l.includes('alpha'),
        ),
      'the registration to be refused',
      { detail: () => h.logs.filter((l) => l.includes('worker=beta')) },
    );
    expect((await h.client.listWorkers()).map((w) => w.name)).not.toContain('beta');
  });

  it('reports workers, task stats for autoscalers, health and metrics', async () => {
    h = await harness.start();
    const worker = await h.addWorker('w', {
      slots: 3,
      labels: { pool: 'x' },
      tasks: [job('hold', untilStopped)],
    });
    await h.client.enqueueMany(Array.from({ length: 5 }, () => ({ task: 'hold' })));
    await until(() => worker.started.length === 3, 'three running');
    const [view] = await h.client.listWorkers();
    expect(view).toMatchObject({
      name: 'w',
      state: 'ACTIVE',
      slots: { total: 3, used: 3 },
      labels: { pool: 'x' },
    });
    expect(view?.tasks.map((t) => t.name)).toEqual(['hold']);
    const stats = await until(async () => {
      const s = (await h.client.taskStats()).find((t) => t.task === 'hold');
      return s && s.running === 3 ? s : undefined;
    }, 'running stats');
    expect(stats).toMatchObject({
      queued: 2,
      ready: 2,
      running: 3,
      workers: 1,
      slots: { total: 3, used: 3 },
    });
    expect(await h.client.taskStats(['hold', 'idle'])).toEqual([
      expect.objectContaining({ task: 'hold', queued: 2, running: 3 }),
      expect.objectContaining({ task: 'idle', queued: 0, ready: 0, running: 0, workers: 0 }),
    ]);
    expect(await h.client.taskTotals(['hold', 'idle'])).toEqual({
      queued: 2,
      ready: 2,
      scheduled: 0,
      assigned: 0,
      running: 3,
    });
    for (const bad of ['', ',', 'x'.repeat(201), Array.from({ length: 101 }, (_, i) => `t${i}`).join(',')]) {
      const answer = await fetch(`${h.url}/v1/stats/tasks?task=${bad}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      expect(answer.status, bad.slice(0, 20)).toBe(400);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    }
    const health = await fetch(`${h.url}/health`);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain('pushworker_queue_depth{task="hold"} 2');
    expect(metrics).toContain('pushworker_runs_enqueued_total 5');
  });

  it('renders per-task histograms of the wait from due to assignment and of run durations', async () => {
    h = await harness.start();
    await h.addWorker('w');
    const metrics = async () => (await fetch(`${h.url}/metrics`)).text();
    expect(await metrics()).not.toContain('pushworker_run_duration_seconds_count');
    const runs = [
      ...(await h.client.enqueueMany([{ task: 'echo' }, { task: 'echo' }])),
      // Counted from its due time, not its enqueue: well under the delay.
      await h.client.enqueue({ task: 'echo', delayMs: 1_500 }),
      ...(await h.client.enqueueMany([
        { task: 'sleep', input: { ms: 300 } },
        { task: 'sleep', input: { ms: 300 } },
      ])),
    ];
    for (const run of runs)
      expect((await h.client.waitRun(run.id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    const text = await until(async () => {
      const t = await metrics();
      return metricSum(t, 'pushworker_run_duration_seconds_count') === 5 ? t : undefined;
    }, 'every run timed');
    const of = (name: string) => metricSum(text, name);
    expect(text).toContain('# TYPE pushworker_dispatch_latency_seconds histogram');
    expect(of('pushworker_dispatch_latency_seconds_count{task="echo"}')).toBe(3);
    expect(of('pushworker_dispatch_latency_seconds_count{task="sleep"}')).toBe(2);
    expect(of('pushworker_dispatch_latency_seconds_bucket{task="echo",le="1"}')).toBe(3);
    expect(of('pushworker_dispatch_latency_seconds_bucket{task="echo",le="+Inf"}')).toBe(3);
    expect(of('pushworker_run_duration_seconds_count{task="sleep"}')).toBe(2);
    expect(of('pushworker_run_duration_seconds_bucket{task="sleep",le="0.25"}')).toBe(0);
    expect(of('pushworker_run_duration_seconds_bucket{task="sleep",le="60"}')).toBe(2);
    expect(of('pushworker_run_duration_seconds_bucket{task="sleep",le="+Inf"}')).toBe(2);
    expect(of('pushworker_run_duration_seconds_sum{task="sleep"}')).toBeGreaterThanOrEqual(0.6);
    expect(of('pushworker_run_duration_seconds_bucket{task="echo",le="+Inf"}')).toBe(3);
  });

  it('registers a serverless worker by URL and takes results from its sync answers', async () => {
    h = await harness.start();
    const worker = await h.addWorker('lambda-1', { start: false, mode: 'sync' });
    const view = await h.client.registerWorker(worker.url);
    expect(view).toMatchObject({ name: 'lambda-1', kind: 'serverless', state: 'ACTIVE' });
    const run = await h.client.enqueue({ task: 'echo', input: 'from lambda' });
    expect(await h.client.waitRun(run.id, { timeoutMs: 10_000 })).toMatchObject({
      state: 'COMPLETED',
      output: 'from lambda',
    });
    await h.engine.sweep();
    expect((await h.client.listWorkers())[0]?.state).toBe('ACTIVE');
  });

  it('lists runs newest first, filtered by state and task, a page at a time', async () => {
    h = await harness.start();
    const echoes = await h.client.enqueueMany(
      Array.from({ length: 7 }, (_, i) => ({ task: 'echo', input: i })),
    );
    const other = await h.client.enqueue({ task: 'other' });
    const cancelled = await h.client.cancel(echoes[2]!.id);
    expect(cancelled.state).toBe('CANCELLED');

    const all = await h.client.listRuns();
    expect(all.runs.map((r) => r.id)).toEqual([other.id, ...echoes.map((r) => r.id).reverse()]);
    expect(all.nextCursor).toBeNull();

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const answer = await h.client.listRuns({ task: 'echo', limit: 3, ...(cursor ? { cursor } : {}) });
      expect(answer.runs.length).toBeLessThanOrEqual(3);
      seen.push(...answer.runs.map((r) => r.id));
      if (!answer.nextCursor) break;
      cursor = answer.nextCursor;
    }
    expect(seen).toEqual(echoes.map((r) => r.id).reverse());

    const queued = await h.client.listRuns({ state: 'QUEUED', task: 'echo' });
    expect(queued.runs).toHaveLength(6);
    expect(queued.runs.every((r) => r.state === 'QUEUED' && r.task === 'echo')).toBe(true);
    const either = await h.client.listRuns({ state: ['CANCELLED', 'COMPLETED'] });
    expect(either.runs.map((r) => r.id)).toEqual([echoes[2]!.id]);
    expect(await codeOf(h.client.listRuns({ limit: 501 }))).toBe('invalid_request');
    expect(await codeOf(h.client.listRuns({ state: 'DONE' as never }))).toBe('invalid_request');
    expect(await codeOf(createClient({ url: h.url, token: 'nope' }).listRuns())).toBe('unauthorized');
  });

  it('refuses a revoked token at once, worker and API tokens alike', async () => {
    h = await harness.start();
    const { id, token } = await h.client.createToken('worker', 'w');
    const worker = await h.addWorker('w', { token });
    const run = await h.client.enqueue({ task: 'echo', input: 'before' });
    expect((await h.client.waitRun(run.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    // Called as the worker: the token has just been used, so the engine holds it in its cache.
    const asWorker = h.asWorker(token);
    const beat = () => asWorker.heartbeat(worker.id!, 'ACTIVE', worker.worker.health().slots);
    expect(await beat()).toBe(200);
    expect(await h.client.revokeToken(id)).toEqual({ id, revoked: true });
    expect(await beat()).toBe(401);
    const at = new Date().toISOString();
    const events = await asWorker.events([{ runId: run.id, attempt: 1, at, type: 'heartbeat' }]);
    expect(events).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    expect(await asWorker.register(worker.worker.manifest())).toMatchObject({ status: 401 });
    expect(await h.client.revokeToken(id)).toEqual({ id, revoked: true });

    const api = await h.client.createToken('api');
    const client = createClient({ url: h.url, token: api.token });
    expect((await client.listRuns()).runs).toHaveLength(1);
    await h.client.revokeToken(api.id);
    expect(await codeOf(client.listRuns())).toBe('unauthorized');
    expect(await codeOf(client.revokeToken(id))).toBe('unauthorized');
    expect(await codeOf(h.client.revokeToken('nosuchtoken'))).toBe('not_found');
  });

  it('publishes its key, and both keys during a rotation', async () => {
    h = await harness.start();
    const before = (await (await fetch(`${h.url}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    expect(before.keys).toHaveLength(1);
    const { kid } = await h.client.rotateKeys();
    const after = (await (await fetch(`${h.url}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    expect(after.keys.map((k) => k.kid).sort()).toEqual([before.keys[0]!.kid, kid].sort());
    const worker = await h.addWorker('w');
    const run = await h.client.enqueue({ task: 'echo', input: 'signed by the new key' });
    expect((await h.client.waitRun(run.id, { timeoutMs: 10_000 })).state).toBe('COMPLETED');
    expect(worker.started).toHaveLength(1);
  });
});

describe('engine restart', () => {
  it('keeps its key and loses no run across a restart on the same data directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pushworker-engine-'));
    try {
      const first = await createEngine({ ...fast, dataDir: dir, onError: () => {} });
      const served = await serveEngine(first);
      const client = createClient({ url: served.url, token: API_TOKEN });
      const runs = await client.enqueueMany(
        Array.from({ length: 20 }, (_, i) => ({ task: 'echo', input: i })),
      );
      const jwks = first.jwks();
      const { token } = await first.createToken('worker', 'w');
      await served.close();

      const second = await createEngine({ ...fast, dataDir: dir, onError: () => {} });
      const again = await serveEngine(second);
      try {
        expect(second.jwks()).toEqual(jwks);
        const worker = await startWorker('w', { engineUrl: again.url, token });
        const client2 = createClient({ url: again.url, token: API_TOKEN });
        for (const r of runs)
          expect((await client2.waitRun(r.id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
        expect(new Set(worker.started.map((s) => s.runId)).size).toBe(20);
        await worker.close();
      } finally {
        await again.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Two databases opened on disk one after the other, each 3–4 s on an idle machine.
  }, 60_000);
});
