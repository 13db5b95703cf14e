import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { createEngine, serveEngine } from '../../src/engine/index.ts';
import { API_TOKEN, fast, type HarnessWorker, job, sleep, startWorker, until } from '../support/engine.ts';
import { freshSchemaUrl, postgresUrl } from './support/postgres.ts';

const pgUrl = postgresUrl();

describe.skipIf(!pgUrl)('two engine replicas on one Postgres', () => {
  it('assigns every run exactly once', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_replicas');
    const engines = await Promise.all(
      [0, 1].map(() => createEngine({ ...fast, databaseUrl, onError: console.error })),
    );
    const served = await Promise.all(engines.map((e) => serveEngine(e)));
    const workers: HarnessWorker[] = [];
    try {
      for (const [i, name] of ['w1', 'w2', 'w3'].entries()) {
        const { token } = await engines[0]!.createToken('worker', name);
        const engineUrl = served[i % 2]!.url;
        const work = job('job', async (input, ctx) => {
          await sleep(2, ctx.signal);
          return input;
        });
        // Each replica names its own URL as the events URL: the workers trust both origins.
        const eventsOrigins = served.map((s) => s.url);
        workers.push(await startWorker(name, { engineUrl, eventsOrigins, token, slots: 8, tasks: [work] }));
      }
      const clients = served.map((s) => createClient({ url: s.url, token: API_TOKEN }));
      const batches = await Promise.all(
        clients.map((c, i) =>
          c.enqueueMany(Array.from({ length: 150 }, (_, j) => ({ task: 'job', input: `${i}-${j}` }))),
        ),
      );
      const runs = batches.flat();
      for (const [i, run] of runs.entries()) {
        const done = await clients[i % 2]!.waitRun(run.id, { timeoutMs: 20_000 });
        expect(done.state).toBe('COMPLETED');
        expect(done.attempt).toBe(1);
      }
      const started = workers.flatMap((w) => w.started.map((s) => `${s.runId}:${s.attempt}`));
      expect(started).toHaveLength(300);
      expect(new Set(started).size).toBe(300);
      expect(workers.every((w) => w.started.length > 0)).toBe(true);
    } finally {
      for (const w of workers) await w.close();
      for (const s of served) await s.close();
    }
  });

  it('refuses a token revoked on the other replica at once', async () => {
    const databaseUrl = await freshSchemaUrl(pgUrl!, 'pw_replicas_tokens');
    const engines = await Promise.all(
      [0, 1].map(() => createEngine({ ...fast, databaseUrl, onError: console.error })),
    );
    const served = await Promise.all(engines.map((e) => serveEngine(e)));
    try {
      const [a] = served.map((s) => createClient({ url: s.url, token: API_TOKEN }));
      const minted = await a!.createToken('api');
      const onB = createClient({ url: served[1]!.url, token: minted.token });
      expect((await onB.listRuns()).runs).toEqual([]);
      await a!.revokeToken(minted.id);
      await until(
        async () => {
          const code = await onB.listRuns().then(
            () => 'ok',
            (e: { code: string }) => e.code,
          );
          return code === 'unauthorized';
        },
        'the revocation to reach the other replica',
        2_000,
      );
    } finally {
      for (const s of served) await s.close();
    }
  });
});
