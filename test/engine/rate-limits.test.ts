import { describe, expect, it } from 'vitest';
import { TaskDeclarations } from '../../src/engine/declarations.ts';
import { resolveRunLimits } from '../../src/engine/run-limits.ts';
import { claimRuns } from '../../src/engine/store/claims.ts';
import type { Sql } from '../../src/engine/store/index.ts';
import {
  DECLARATION_REFRESH_MS,
  declareRateLimits,
  MIN_IDLE_BEFORE_PRUNE_MS,
  overrideRateLimit,
  pruneIdleRateLimits,
  readRateLimits,
} from '../../src/engine/store/rate-limits.ts';
import { getRun, insertRuns, taskStats } from '../../src/engine/store/runs.ts';
import { failAttempt, requeueRuns } from '../../src/engine/store/transitions.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';
import { EnqueueRequest } from '../../src/protocol/api.ts';
import type { TaskManifest } from '../../src/protocol/schemas.ts';
import { storePerTest, storeTargets } from './support/postgres.ts';

const targets = storeTargets('pw_rate_limit_suite');
const MINUTE = 60_000;
/** The start of a minute window, so that moving the clock by a minute moves to the next window. */
const T0 = 1_000 * MINUTE;
const job: TaskManifest = { name: 'job', inputSchema: {}, timeoutMs: 1000, retries: 0, slotCost: 1 };

describe.each(targets)('rate limits on $name', ({ open }) => {
  let sql!: Sql;
  storePerTest(open, (opened) => {
    sql = opened;
  });

  const addWorker = (name: string, slots: number, tasks: TaskManifest[] = [job]) =>
    upsertWorker(sql, { name, url: `http://127.0.0.1/${name}`, slots, labels: {}, tasks }, 'registered', 1);
  const enqueue = (n: number, extra: Record<string, unknown> = {}, prefix = 'r') =>
    insertRuns(
      sql,
      Array.from({ length: n }, (_, i) => ({
        id: `${prefix}${String(i).padStart(4, '0')}`,
        task: 'job',
        input: i,
        ...extra,
      })),
      1,
    );
  const claim = async (workerId: string, now: number, max = 100) =>
    (await claimRuns(sql, { workerId, max, now, leaseMs: 10_000 })).runs.map((r) => r.id);

  it('counts as ready only the queued runs whose rate limits have room now, beside runs without any', async () => {
    const w = await addWorker('w', 20);
    await declareRateLimits(sql, [{ key: 'api', limit: 2, perMs: MINUTE }], T0);
    await enqueue(5, { rateLimits: [{ key: 'api', units: 1 }] }, 'limited');
    await enqueue(3, {}, 'free');
    const ready = async (now: number) => (await taskStats(sql, now)).find((s) => s.task === 'job')!;
    expect(await ready(T0)).toMatchObject({ queued: 8, ready: 8 });
    expect(await claim(w.id, T0, 2)).toEqual(['limited0000', 'limited0001']);
    // the window is used up: the three limited runs left wait for the next one, the free ones do not
    expect(await ready(T0)).toMatchObject({ queued: 6, ready: 3 });
    expect(await ready(T0 + MINUTE)).toMatchObject({ queued: 6, ready: 6 });
    expect(await claim(w.id, T0)).toEqual(['free0000', 'free0001', 'free0002']);
    expect(await ready(T0)).toMatchObject({ queued: 3, ready: 0 });
  });

  it('starts at most the limit in a window and the rest in the next ones, in queue order', async () => {
    const w = await addWorker('w', 20);
    await declareRateLimits(sql, [{ key: 'api', limit: 3, perMs: MINUTE }], T0);
    await enqueue(7, { rateLimits: [{ key: 'api', units: 1 }] });

    expect(await claim(w.id, T0)).toEqual(['r0000', 'r0001', 'r0002']);
    expect(await claim(w.id, T0 + MINUTE - 1)).toEqual([]);
    expect((await getRun(sql, 'r0003'))!.state).toBe('QUEUED');
    expect(await claim(w.id, T0 + MINUTE)).toEqual(['r0003', 'r0004', 'r0005']);
    expect(await claim(w.id, T0 + 2 * MINUTE + 5)).toEqual(['r0006']);

    const [limit] = await readRateLimits(sql, ['api'], T0 + 2 * MINUTE + 5);
    expect(limit).toMatchObject({
      key: 'api',
      limit: 3,
      perMs: MINUTE,
      windowStart: T0 + 2 * MINUTE,
      used: 1,
    });
  });

  it('counts units: a run that takes more than is left waits for the next window', async () => {
    const w = await addWorker('w', 20);
    await declareRateLimits(sql, [{ key: 'tokens', limit: 5, perMs: MINUTE }], T0);
    await enqueue(3, { rateLimits: [{ key: 'tokens', units: 2 }] });
    expect(await claim(w.id, T0)).toEqual(['r0000', 'r0001']);
    expect(await claim(w.id, T0 + MINUTE)).toEqual(['r0002']);
  });

  it('takes a run\u2019s units again when it is pushed again after a refused push, and after a failure', async () => {
    const w = await addWorker('w', 20);
    await declareRateLimits(sql, [{ key: 'api', limit: 2, perMs: MINUTE }], T0);
    await enqueue(1, { rateLimits: [{ key: 'api', units: 1 }], retries: 1 });
    const used = async () => (await readRateLimits(sql, ['api'], T0))[0]!.used;
    expect(await claim(w.id, T0)).toEqual(['r0000']);
    // The worker had no slot for it: back in the queue; it starts in the push that follows, which takes its units.
    await requeueRuns(sql, [{ runId: 'r0000', attempt: 1 }], {
      now: T0,
      maxDeliveries: 20,
      reason: 'no_slot',
      refund: true,
    });
    expect(await claim(w.id, T0)).toEqual(['r0000']);
    expect(await used()).toBe(2);
    // The window is full: a run refused again waits for the next window rather than start over the limit.
    await requeueRuns(sql, [{ runId: 'r0000', attempt: 2 }], {
      now: T0,
      maxDeliveries: 20,
      reason: 'no_slot',
      refund: true,
    });
    expect(await claim(w.id, T0)).toEqual([]);
    expect(await claim(w.id, T0 + MINUTE)).toEqual(['r0000']);
    const run = (await getRun(sql, 'r0000'))!;
    await sql.transaction((tx) =>
      failAttempt(tx, run, { name: 'Error', message: 'no', retryable: true }, T0 + MINUTE, {
        baseMs: 0,
        maxMs: 0,
      }),
    );
    expect(await claim(w.id, T0 + MINUTE)).toEqual(['r0000']);
    expect((await readRateLimits(sql, ['api'], T0 + MINUTE))[0]!.used).toBe(2);
  });

  it('leaves runs without a rate limit to the head claim, and limited ones behind them to the scan', async () => {
    const w = await addWorker('w', 20);
    await declareRateLimits(sql, [{ key: 'api', limit: 1, perMs: MINUTE }], T0);
    await enqueue(2, {}, 'a');
    await enqueue(2, { rateLimits: [{ key: 'api', units: 1 }] }, 'b');
    await insertRuns(sql, [{ id: 'c0000', task: 'job', input: 0 }], 1);
    expect(await claim(w.id, T0)).toEqual(['a0000', 'a0001', 'b0000', 'c0000']);
  });

  it('holds a run to each of its keys', async () => {
    const w = await addWorker('w', 20);
    await declareRateLimits(
      sql,
      [
        { key: 'wide', limit: 10, perMs: MINUTE },
        { key: 'narrow', limit: 1, perMs: MINUTE },
      ],
      T0,
    );
    await enqueue(3, {
      rateLimits: [
        { key: 'wide', units: 1 },
        { key: 'narrow', units: 1 },
      ],
    });
    expect(await claim(w.id, T0)).toEqual(['r0000']);
    const limits = await readRateLimits(sql, null, T0);
    expect(limits.map((l) => [l.key, l.used])).toEqual([
      ['narrow', 1],
      ['wide', 1],
    ]);
  });

  it('applies a limit set over the declared one from the next claim, and keeps it over later declarations', async () => {
    const w = await addWorker('w', 20);
    await declareRateLimits(sql, [{ key: 'api', limit: 1, perMs: MINUTE }], T0);
    await enqueue(6, { rateLimits: [{ key: 'api', units: 1 }] });
    expect(await claim(w.id, T0)).toEqual(['r0000']);
    await overrideRateLimit(sql, 'api', 4, MINUTE, T0);
    await declareRateLimits(sql, [{ key: 'api', limit: 1, perMs: MINUTE }], T0);
    expect(await claim(w.id, T0 + 1)).toEqual(['r0001', 'r0002', 'r0003']);
    const [limit] = await readRateLimits(sql, ['api'], T0 + 1);
    expect(limit).toMatchObject({ limit: 4, declaredLimit: 1, overrideLimit: 4, used: 4 });
  });

  it('separates tenants by a key the engine reads from the input at enqueue', async () => {
    const limited: TaskManifest = {
      ...job,
      rateLimits: [{ key: 'tenant:{input.tenant}', limit: 2, per: 'minute' }],
    };
    const w = await addWorker('w', 20, [limited]);
    const requests = ['acme', 'acme', 'acme', 'globex', 'globex', 'globex'].map((tenant) =>
      EnqueueRequest.parse({ task: 'job', input: { tenant } }),
    );
    const limits = await resolveRunLimits(sql, new TaskDeclarations(sql), requests, T0);
    expect(limits.map((l) => l.rateLimits)).toEqual(
      requests.map((r) => [{ key: `tenant:${(r.input as { tenant: string }).tenant}`, units: 1 }]),
    );
    await insertRuns(
      sql,
      requests.map((r, i) => ({
        id: `r${i}`,
        task: 'job',
        input: r.input,
        rateLimits: limits[i]!.rateLimits,
      })),
      1,
    );
    expect(await claim(w.id, T0)).toEqual(['r0', 'r1', 'r3', 'r4']);
    expect(await claim(w.id, T0 + MINUTE)).toEqual(['r2', 'r5']);
  });

  it('refuses a run whose input lacks the value of a key template, and a rate limit key nobody set', async () => {
    const limited: TaskManifest = {
      ...job,
      rateLimits: [{ key: 'tenant:{input.tenant}', limit: 2, per: 'minute' }],
    };
    await addWorker('w', 20, [limited]);
    const declarations = new TaskDeclarations(sql);
    const lacking = EnqueueRequest.parse({ task: 'job', input: { other: 1 } });
    await expect(resolveRunLimits(sql, declarations, [lacking], T0)).rejects.toMatchObject({
      code: 'unresolved_key',
    });
    const nested = EnqueueRequest.parse({ task: 'job', input: { tenant: { id: 1 } } });
    await expect(resolveRunLimits(sql, declarations, [nested], T0)).rejects.toMatchObject({
      code: 'unresolved_key',
    });
    const unknown = EnqueueRequest.parse({ task: 'job', input: { tenant: 'a' }, rateLimitKeys: ['nobody'] });
    await expect(resolveRunLimits(sql, declarations, [unknown], T0)).rejects.toMatchObject({
      code: 'unknown_rate_limit',
    });
    expect(await readRateLimits(sql, null, T0)).toEqual([]);

    await overrideRateLimit(sql, 'nobody', 1, MINUTE, T0);
    const [known] = await resolveRunLimits(sql, declarations, [unknown], T0);
    expect(known!.rateLimits).toEqual([
      { key: 'tenant:a', units: 1 },
      { key: 'nobody', units: 1 },
    ]);
  });

  it('prunes declared keys idle past the retention that no live run uses, with their windows, and no other', async () => {
    const w = await addWorker('w', 20);
    const perMinute = (key: string) => ({ key, limit: 5, perMs: MINUTE });
    await declareRateLimits(sql, ['tenant:done', 'tenant:queued', 'tenant:set'].map(perMinute), T0);
    await overrideRateLimit(sql, 'tenant:set', 9, MINUTE, T0);
    await insertRuns(
      sql,
      [
        { id: 'done', task: 'job', input: 0, rateLimits: [{ key: 'tenant:done', units: 1 }] },
        {
          id: 'later',
          task: 'job',
          input: 1,
          rateLimits: [{ key: 'tenant:queued', units: 1 }],
          availableAt: T0 + 10 * MINUTE,
        },
      ],
      1,
    );
    expect(await claim(w.id, T0)).toEqual(['done']);
    await sql.query(`UPDATE pw_runs SET state = 'COMPLETED', finished_at = $1 WHERE id = 'done'`, [T0]);
    const windows = async () =>
      (await sql.query<{ key: string }>('SELECT key FROM pw_rate_limit_windows ORDER BY key')).map(
        (r) => r.key,
      );
    expect(await windows()).toEqual(['tenant:done']);

    // Within the floor of idle time nothing goes, however short the retention.
    const floor = T0 + MIN_IDLE_BEFORE_PRUNE_MS;
    expect(await pruneIdleRateLimits(sql, floor, floor - 1, 100)).toBe(0);
    expect(await pruneIdleRateLimits(sql, floor, floor + 1, 100)).toBe(1);
    expect((await readRateLimits(sql, null, floor)).map((l) => l.key)).toEqual([
      'tenant:queued',
      'tenant:set',
    ]);
    expect(await windows()).toEqual([]);

    // The queued run's key goes once the run has finished too; the key set by an operator stays.
    await sql.query(`UPDATE pw_runs SET state = 'CANCELLED', finished_at = $1 WHERE id = 'later'`, [floor]);
    expect(await pruneIdleRateLimits(sql, floor, floor + 1, 100)).toBe(1);
    expect((await readRateLimits(sql, null, floor)).map((l) => l.key)).toEqual(['tenant:set']);
  });

  it('keeps a key declared again after the refresh period from looking idle', async () => {
    const limit = { key: 'tenant:busy', limit: 5, perMs: MINUTE };
    await declareRateLimits(sql, [limit], T0);
    const again = T0 + DECLARATION_REFRESH_MS + 1;
    await declareRateLimits(sql, [limit], again);
    const now = again + MIN_IDLE_BEFORE_PRUNE_MS + 1;
    expect(await pruneIdleRateLimits(sql, again, now, 100)).toBe(0);
    expect(await pruneIdleRateLimits(sql, again + 1, now, 100)).toBe(1);
  });
});
