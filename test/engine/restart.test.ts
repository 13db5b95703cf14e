import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { holdAddress } from '../../src/cli/held-address.ts';
import { createClient, type RunView } from '../../src/client/index.ts';
import { createEngine, type ServedEngine, serveEngine } from '../../src/engine/index.ts';
import { API_TOKEN, fast, until } from '../support/engine.ts';
import { type ExampleWorker, spawnExampleWorker, stopExampleWorker } from './support/example-worker.ts';
import { freshSchemaUrl, postgresUrl } from './support/postgres.ts';

const pgUrl = postgresUrl();
const targets = [
  {
    name: 'PGlite on disk',
    store: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'pushworker-restart-'));
      return { options: { dataDir: dir }, drop: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  ...(pgUrl
    ? [
        {
          name: 'Postgres',
          store: async () => ({
            options: { databaseUrl: await freshSchemaUrl(pgUrl, 'pw_restart') },
            drop: async () => {},
          }),
        },
      ]
    : []),
];

const RUNS = 300;
const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];
const children: ExampleWorker[] = [];
let served: ServedEngine | undefined;
let closeAddress: (() => Promise<void>) | undefined;

afterEach(async () => {
  for (const child of children.splice(0)) await stopExampleWorker(child, 'SIGKILL');
  await served?.close();
  served = undefined;
  await closeAddress?.();
  closeAddress = undefined;
});

describe.each(targets)('engine restarted mid-load on $name', ({ store }) => {
  it('loses no run: every run ends terminal with exactly one recorded result', async () => {
    const { options, drop } = await store();
    try {
      // Each engine binds port 0; both are reached at one address, held here and forwarded to the port of the
      // one serving: the engine comes back at the address the workers were given.
      const address = await holdAddress();
      const start = async () => {
        const engine = await createEngine({ ...fast, ...options, publicUrl: address.url, onError: () => {} });
        const s = await serveEngine(engine, { port: 0 });
        address.forwardTo(s.url);
        return s;
      };
      closeAddress = () => address.close();
      served = await start();
      const client = createClient({ url: address.url, token: API_TOKEN });
      for (const name of ['restart-a', 'restart-b']) {
        const { token } = await client.createToken('worker', name);
        children.push(await spawnExampleWorker({ engineUrl: address.url, token, name, slots: 8 }));
      }
      await until(
        async () => (await client.listWorkers()).filter((w) => w.state === 'ACTIVE').length === 2,
        'both workers to register',
      );

      // Enqueue in small batches, through the restart: a batch the engine missed is sent again with the
      // same idempotency keys, as a client retrying after a refused connection would.
      const request = (i: number) =>
        i % 2 === 0
          ? { task: 'echo', input: { message: `m${i}` }, idempotencyKey: `restart-${i}` }
          : { task: 'sleep', input: { ms: 20 + (i % 7) * 10 }, idempotencyKey: `restart-${i}` };
      const enqueueing = (async () => {
        for (let i = 0; i < RUNS; i += 10) {
          const batch = Array.from({ length: 10 }, (_, j) => request(i + j));
          await until(
            () =>
              client.enqueueMany(batch).then(
                () => true,
                () => false,
              ),
            'a batch to be enqueued',
            30_000,
          );
          await new Promise((r) => setTimeout(r, 20));
        }
      })();

      const inFlight = await until(async () => {
        const { runs } = await client.listRuns({ limit: 500 });
        const done = runs.filter((r) => r.state === 'COMPLETED').length;
        const open = runs.filter((r) => r.state === 'ASSIGNED' || r.state === 'RUNNING').length;
        return done >= 30 && open > 0 ? open : 0;
      }, 'runs completed and runs in flight');
      await served.close();
      // Until the next engine listens, connections to the address wait for it.
      address.forwardTo(undefined);
      served = await start();
      expect(inFlight).toBeGreaterThan(0);
      await enqueueing;

      const all = await until(
        async () => {
          const { runs } = await client.listRuns({ limit: 500 });
          return runs.length === RUNS && runs.every((r) => TERMINAL.includes(r.state)) ? runs : undefined;
        },
        'every run to end',
        60_000,
      );
      const byKey = new Map<string, RunView>((all ?? []).map((r) => [r.idempotencyKey!, r]));
      expect(byKey.size).toBe(RUNS);
      for (let i = 0; i < RUNS; i++) {
        const run = byKey.get(`restart-${i}`);
        const sent = request(i);
        expect(run?.state).toBe('COMPLETED');
        expect(run?.output).toEqual(
          sent.task === 'echo' ? sent.input : { sleptMs: (sent.input as { ms: number }).ms },
        );
        expect(run?.finishedAt).not.toBeNull();
      }
    } finally {
      for (const child of children.splice(0)) await stopExampleWorker(child, 'SIGKILL');
      await served?.close();
      served = undefined;
      await drop();
    }
  }, 120_000);
});
