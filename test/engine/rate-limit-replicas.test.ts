import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../src/client/index.ts';
import { createEngine, serveEngine } from '../../src/engine/index.ts';
import { claimRuns } from '../../src/engine/store/claims.ts';
import { openStore } from '../../src/engine/store/index.ts';
import { declareRateLimits, readRateLimits } from '../../src/engine/store/rate-limits.ts';
import { insertRuns } from '../../src/engine/store/runs.ts';
import { upsertWorker } from '../../src/engine/store/workers.ts';
import { task } from '../../src/index.ts';
import { API_TOKEN, fast, type HarnessWorker, startWorker, until } from '../support/engine.ts';
import { freshSchemaUrl, postgresUrl } from './support/postgres.ts';

const pgUrl = postgresUrl();
const MINUTE = 60_000;
const T0 = 1_000 * MINUTE;
/** The longest window: the runs of a test all fall in one, whenever it runs. */
const LONG = 2 ** 31 - 1;

describe.skipIf(!pgUrl)('a rate limit across engine replicas on one Postgres', () => {
  it('starts at most the limit per window when both replicas claim at once', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_rate_limit_replicas');
    const replicas = await Promise.all([0, 1].map(() => openStore({ databaseUrl })));
    try {
      const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
      const tasks = [{ name: 'job', inputSchema: {}, timeoutMs: 1000, retries: 0, slotCost: 1 }];
      const workers = await Promise.all(
        ['w1', 'w2', 'w3', 'w4'].map((name, i) =>
          upsertWorker(
            i % 2 ? b : a,
            { name, url: `http://127.0.0.1/${name}`, slots: 50, labels: {}, tasks },
            'registered',
            1,
          ),
        ),
      );
      await declareRateLimits(a, [{ key: 'api', limit: 5, perMs: MINUTE }], T0);
      await insertRuns(
        a,
        Array.from({ length: 40 }, (_, i) => ({
          id: `r${String(i).padStart(3, '0')}`,
          task: 'job',
          input: i,
          rateLimits: [{ key: 'api', units: 1 }],
        })),
        1,
      );
      const startedIn = async (now: number) => {
        let started = 0;
        // Rounds of claims by every worker at once, half through each replica, until a round takes nothing.
        for (let round = 0; round < 20; round++) {
          const claims = await Promise.all(
            workers.map((w, i) => claimRuns(i % 2 ? b : a, { workerId: w.id, max: 3, now, leaseMs: 10_000 })),
          );
          const taken = claims.reduce((n, c) => n + c.runs.length, 0);
          started += taken;
          if (taken === 0 && round > 2) break;
        }
        return started;
      };
      expect(await startedIn(T0)).toBe(5);
      expect((await readRateLimits(b, ['api'], T0))[0]).toMatchObject({ used: 5 });
      expect(await startedIn(T0 + MINUTE)).toBe(5);
      expect((await readRateLimits(a, ['api'], T0 + MINUTE))[0]).toMatchObject({ used: 5 });
      const [{ n }] = (await a.query("SELECT count(*)::int AS n FROM pw_runs WHERE state = 'QUEUED'")) as [
        { n: number },
      ];
      expect(n).toBe(30);
    } finally {
      for (const r of replicas) await r.close();
    }
  });

  it('holds a task-declared limit while two engines dispatch, and starts more once it is raised on either', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_rate_limit_engines');
    const engines = await Promise.all(
      [0, 1].map(() => createEngine({ ...fast, databaseUrl, onError: console.error })),
    );
    const served = await Promise.all(engines.map((e) => serveEngine(e)));
    const workers: HarnessWorker[] = [];
    try {
      const limited = task({
        name: 'limited',
        input: z.object({ n: z.number() }),
        rateLimits: [{ key: 'shared-api', limit: 4, per: LONG }],
        run: ({ n }) => n,
      });
      for (const [i, name] of ['w1', 'w2'].entries()) {
        const { token } = await engines[0]!.createToken('worker', name);
        const eventsOrigins = served.map((s) => s.url);
        workers.push(
          await startWorker(name, {
            engineUrl: served[i]!.url,
            eventsOrigins,
            token,
            slots: 8,
            tasks: [limited],
          }),
        );
      }
      const clients = served.map((s) => createClient({ url: s.url, token: API_TOKEN }));
      await until(
        async () => (await clients[0]!.listWorkers()).filter((w) => w.state === 'ACTIVE').length === 2,
        'both workers to register',
      );
      const runs = (
        await Promise.all(
          clients.map((c, i) =>
            c.enqueueMany(
              Array.from({ length: 6 }, (_, j) => ({ task: 'limited', input: { n: i * 10 + j } })),
            ),
          ),
        )
      ).flat();
      const completed = async () =>
        (await clients[1]!.listRuns({ state: 'COMPLETED', limit: 100 })).runs.length;
      await until(async () => (await completed()) >= 4, 'four runs to complete');
      const [limit] = await clients[1]!.rateLimits();
      expect(limit).toMatchObject({ key: 'shared-api', limit: 4, window: { used: 4 }, override: null });
      expect(workers.reduce((n, w) => n + w.started.length, 0)).toBe(4);
      const queued = (await clients[0]!.listRuns({ state: 'QUEUED', limit: 100 })).runs;
      expect(queued).toHaveLength(8);
      const view = await clients[0]!.getRun(queued[0]!.id);
      expect(view.waitingFor).toBe(`rate limited on shared-api until ${limit!.window.end}`);

      await clients[1]!.setRateLimit('shared-api', { limit: 10, per: LONG });
      await until(async () => (await completed()) === 10, 'ten runs to complete once the limit is raised');
      const after = await clients[0]!.rateLimits();
      expect(after[0]).toMatchObject({
        limit: 10,
        window: { used: 10 },
        declared: { limit: 4, perMs: LONG },
      });
      expect(runs).toHaveLength(12);
      expect((await clients[0]!.listRuns({ state: 'QUEUED', limit: 100 })).runs).toHaveLength(2);
    } finally {
      for (const w of workers) await w.close();
      for (const s of served) await s.close();
    }
  });
});
