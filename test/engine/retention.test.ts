// Retention: finished runs past the retention period are deleted by the sweeper with their attempts, a bounded
// batch per sweep, by several replicas at once without waiting on each other or deleting a run twice.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engineConfigFromEnv } from '../../src/engine/config.ts';
import { createEngine, type Engine } from '../../src/engine/index.ts';
import { claimRuns } from '../../src/engine/store/claims.ts';
import { applyEventPosts } from '../../src/engine/store/events.ts';
import type { Sql } from '../../src/engine/store/index.ts';
import { declareRateLimits, readRateLimits } from '../../src/engine/store/rate-limits.ts';
import { cancelRun, getRun, insertRuns } from '../../src/engine/store/runs.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';
import { RATE_LIMIT_PRUNE_INTERVAL_MS, RETENTION_STATEMENTS_PER_SWEEP } from '../../src/engine/sweeper.ts';
import { seedFinishedRuns } from '../support/finished-runs.ts';
import { freshSchemaUrl, postgresUrl, storePerTest, storeTargets } from './support/postgres.ts';

const DAY = 24 * 3600_000;
const API_TOKEN = 'pwa_retention-test-token-0123456789';
const task = { name: 'job', inputSchema: {}, timeoutMs: 60_000, retries: 0, slotCost: 1 };

/** The engine's count of deleted runs, as /metrics renders it (0 before any). */
async function deletedCount(engine: Engine): Promise<number> {
  const text = await (await engine.app.request('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith('pushworker_runs_deleted_total'));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function runCount(sql: Sql): Promise<{ runs: number; attempts: number }> {
  const [row] = await sql.query<{ runs: number; attempts: number }>(
    'SELECT (SELECT count(*) FROM pw_runs)::int AS runs, (SELECT count(*) FROM pw_attempts)::int AS attempts',
  );
  return row!;
}

describe('retention settings', () => {
  it('keep finished runs 7 days by default and delete 1000 a statement; 0 keeps them all', () => {
    expect(engineConfigFromEnv({})).toMatchObject({ retentionMs: 7 * DAY, retentionBatchSize: 1000 });
    expect(
      engineConfigFromEnv({ PUSHWORKER_RETENTION_MS: '0', PUSHWORKER_RETENTION_BATCH_SIZE: '50' }),
    ).toMatchObject({ retentionMs: 0, retentionBatchSize: 50 });
  });

  it.each([
    ['PUSHWORKER_RETENTION_MS', '-1'],
    ['PUSHWORKER_RETENTION_MS', 'a week'],
    ['PUSHWORKER_RETENTION_BATCH_SIZE', '0'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => engineConfigFromEnv({ [name]: value })).toThrow(
      expect.objectContaining({
        code: 'invalid_request',
        message: expect.stringContaining(`invalid engine configuration: ${name}: `),
      }),
    );
  });
});

describe.each(storeTargets('pw_retention'))('retention on $name', ({ open }) => {
  let sql!: Sql;
  const engines: Engine[] = [];
  const errors: unknown[] = [];
  const engineWith = async (options: { retentionMs?: number; retentionBatchSize?: number } = {}) => {
    const engine = await createEngine({
      sql,
      apiTokens: [API_TOKEN],
      onError: (e) => errors.push(e),
      ...options,
    });
    engines.push(engine);
    return engine;
  };

  storePerTest(open, (opened) => {
    sql = opened;
  });
  beforeEach(() => {
    errors.length = 0;
  });
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.stop();
    expect(errors).toEqual([]);
  });

  /** Runs `ids` through one attempt on a worker, each completed at `at`. */
  async function complete(ids: string[], at: number) {
    const worker = await upsertWorker(
      sql,
      { name: `w-${at}`, url: `http://127.0.0.1/w-${at}`, slots: ids.length, labels: {}, tasks: [task] },
      'registered',
      at,
    );
    await insertRuns(
      sql,
      ids.map((id) => ({ id, task: 'job', input: id })),
      at,
    );
    const claimed = await claimRuns(sql, { workerId: worker.id, max: ids.length, now: at, leaseMs: 60_000 });
    expect(claimed.runs.map((r) => r.id).sort()).toEqual([...ids].sort());
    const time = new Date(at).toISOString();
    const events = ids.map((runId) => ({
      runId,
      attempt: 1,
      at: time,
      type: 'completed' as const,
      output: 1,
    }));
    await applyEventPosts(sql, [{ workerName: worker.name, events }], {
      now: at,
      leaseMs: 60_000,
      retry: { baseMs: 10, maxMs: 100 },
    });
    return worker;
  }

  it('deletes finished runs older than the retention with their attempts, and keeps live and recent ones', async () => {
    const engine = await engineWith({ retentionMs: 7 * DAY });
    const t0 = Date.now();
    await complete(['old-1', 'old-2'], t0);
    await insertRuns(sql, [{ id: 'old-cancelled', task: 'job', input: 0 }], t0);
    await cancelRun(sql, 'old-cancelled', t0);
    const holder = await upsertWorker(
      sql,
      { name: 'holder', url: 'http://127.0.0.1/holder', slots: 1, labels: {}, tasks: [task] },
      'registered',
      t0,
    );
    await insertRuns(sql, [{ id: 'old-assigned', task: 'job', input: 0 }], t0);
    await claimRuns(sql, { workerId: holder.id, max: 1, now: t0, leaseMs: 60_000 });
    await insertRuns(sql, [{ id: 'old-queued', task: 'other', input: 0 }], t0);
    await complete(['recent'], t0 + 6 * DAY);
    expect(await runCount(sql)).toEqual({ runs: 6, attempts: 3 });

    await engine.sweep(t0 + 7 * DAY + 1);
    for (const id of ['old-1', 'old-2', 'old-cancelled']) expect(await getRun(sql, id), id).toBeUndefined();
    expect((await getRun(sql, 'old-queued'))?.state).toBe('QUEUED');
    // Its lease ran out at the sweep's time: it is queued again, not deleted.
    expect(await getRun(sql, 'old-assigned')).toBeDefined();
    expect((await getRun(sql, 'recent'))?.state).toBe('COMPLETED');
    const attempts = await sql.query<{ run_id: string }>('SELECT run_id FROM pw_attempts ORDER BY run_id');
    expect(attempts.map((a) => a.run_id)).toEqual(['old-assigned', 'recent']);
    expect(await deletedCount(engine)).toBe(3);

    await engine.sweep(t0 + 13 * DAY - 1);
    expect(await getRun(sql, 'recent')).toBeDefined();
    await engine.sweep(t0 + 13 * DAY + 1);
    expect(await getRun(sql, 'recent')).toBeUndefined();
    expect(await deletedCount(engine)).toBe(4);
  });

  it('prunes rate limit keys declared before the retention that no live run uses, and none at 0', async () => {
    const t0 = Date.now();
    await declareRateLimits(sql, [{ key: 'tenant:gone', limit: 1, perMs: 1000 }], t0);
    const keeping = await engineWith({ retentionMs: 0 });
    await keeping.sweep(t0 + 3650 * DAY);
    expect((await readRateLimits(sql, null, t0)).map((l) => l.key)).toEqual(['tenant:gone']);

    const engine = await engineWith({ retentionMs: 7 * DAY });
    await engine.sweep(t0 + 7 * DAY - 1);
    expect((await readRateLimits(sql, null, t0)).map((l) => l.key)).toEqual(['tenant:gone']);
    // The look for idle keys is at most once a minute.
    await engine.sweep(t0 + 7 * DAY + RATE_LIMIT_PRUNE_INTERVAL_MS);
    expect(await readRateLimits(sql, null, t0)).toEqual([]);
    const metrics = await (await engine.app.request('/metrics')).text();
    expect(metrics).toMatch(/^pushworker_rate_limit_keys_pruned_total 1$/m);
  });

  it('keeps every run when the retention is 0', async () => {
    const engine = await engineWith({ retentionMs: 0 });
    const t0 = Date.now();
    await complete(['a', 'b'], t0);
    await engine.sweep(t0 + 3650 * DAY);
    expect(await runCount(sql)).toEqual({ runs: 2, attempts: 2 });
    expect(await deletedCount(engine)).toBe(0);
  });

  it('deletes a backlog larger than one sweep takes over several sweeps, oldest first', async () => {
    const batch = 3;
    const perSweep = batch * RETENTION_STATEMENTS_PER_SWEEP;
    const engine = await engineWith({ retentionMs: DAY, retentionBatchSize: batch });
    const t0 = Date.now();
    const backlog = 2 * perSweep + 7;
    await seedFinishedRuns(sql, backlog, t0);
    const left = async () => (await runCount(sql)).runs;

    await engine.sweep(t0 + 2 * DAY);
    expect(await left()).toBe(backlog - perSweep);
    // The oldest went first: the newest is still there.
    expect(await getRun(sql, `seeded_${backlog - 1}`)).toBeDefined();
    expect(await getRun(sql, 'seeded_0')).toBeUndefined();
    await engine.sweep(t0 + 2 * DAY);
    expect(await left()).toBe(7);
    await engine.sweep(t0 + 2 * DAY);
    expect(await runCount(sql)).toEqual({ runs: 0, attempts: 0 });
    expect(await deletedCount(engine)).toBe(backlog);
  });

  it('frees an idempotency key once its run is deleted, and the API no longer shows the run', async () => {
    const engine = await engineWith({ retentionMs: DAY });
    const call = (method: string, path: string, body?: unknown) =>
      engine.app.request(path, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const enqueue = () => call('POST', '/v1/runs', { task: 'job', input: 1, idempotencyKey: 'once-a-day' });
    const first = await enqueue();
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: string };
    const again = await enqueue();
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(id);
    expect((await call('POST', `/v1/runs/${id}/cancel`)).status).toBe(200);

    await engine.sweep(Date.now() + 2 * DAY);
    const gone = await call('GET', `/v1/runs/${id}`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const listed = (await (await call('GET', '/v1/runs')).json()) as { runs: { id: string }[] };
    expect(listed.runs).toEqual([]);
    const fresh = await enqueue();
    expect(fresh.status).toBe(201);
    expect(((await fresh.json()) as { id: string }).id).not.toBe(id);
  });
});

const pgUrl = postgresUrl();

describe.skipIf(!pgUrl)('retention by two engine replicas on one Postgres', () => {
  it('deletes each run once, and neither waits on the other or fails', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_retention_replicas');
    const errors: unknown[] = [];
    const engines = await Promise.all(
      [0, 1].map(() =>
        createEngine({
          databaseUrl,
          retentionMs: DAY,
          retentionBatchSize: 50,
          onError: (e) => errors.push(e),
        }),
      ),
    );
    try {
      const t0 = Date.now();
      const total = 4_000;
      await seedFinishedRuns(engines[0]!.sql, total, t0);
      const sweeps: number[] = [0, 0];
      for (let round = 0; round < 20 && (await runCount(engines[0]!.sql)).runs > 0; round++) {
        await Promise.all(
          engines.map(async (engine, i) => {
            await engine.sweep(t0 + 2 * DAY);
            sweeps[i]!++;
          }),
        );
      }
      expect(await runCount(engines[0]!.sql)).toEqual({ runs: 0, attempts: 0 });
      const counts = await Promise.all(engines.map(deletedCount));
      expect(counts[0]! + counts[1]!).toBe(total);
      // Both took part: neither waited for the other's batch to commit and then found nothing.
      expect(counts.every((n) => n > 0)).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      for (const engine of engines) await engine.stop();
    }
  });

  it('skips the runs another replica is deleting instead of waiting for them', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_retention_locked');
    const engine = await createEngine({ databaseUrl, retentionMs: DAY, retentionBatchSize: 10 });
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      const t0 = Date.now();
      await seedFinishedRuns(engine.sql, 30, t0);
      await holder.query('BEGIN');
      // The oldest ten, as another replica's delete statement holds them until it commits.
      await holder.query(`SELECT id FROM pw_runs ORDER BY finished_at LIMIT 10 FOR UPDATE`);
      await engine.sweep(t0 + 2 * DAY);
      const left = await engine.sql.query<{ id: string }>('SELECT id FROM pw_runs ORDER BY finished_at');
      expect(left.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => `seeded_${i}`));
      await holder.query('ROLLBACK');
      await engine.sweep(t0 + 2 * DAY);
      expect((await runCount(engine.sql)).runs).toBe(0);
      expect(await deletedCount(engine)).toBe(30);
    } finally {
      await holder.end();
      await engine.stop();
    }
  });
});
