// An engine for fuzzing: in-memory PGlite, API served in process (and on loopback) with no dispatcher running,
// so the store changes only through the request under test.
import type { ServerType } from '@hono/node-server';
import { createEngine, type Engine } from '../../src/engine/index.ts';
import { openStore, type Sql, truncateAll } from '../../src/engine/store/index.ts';
import { revokeToken } from '../../src/engine/store/secrets.ts';
import { closeServer, listen } from '../support/sink.ts';

export const API_TOKEN = `pwa_fuzz_${crypto.randomUUID()}`;

export interface Fixture {
  engine: Engine;
  sql: Sql;
  url: string;
  tokens: Record<
    'api' | 'mintedApi' | 'readApi' | 'enqueueApi' | 'workerA' | 'workerB' | 'revoked' | 'wrongSecret',
    string
  >;
  workers: { a: string; b: string };
  runs: { queued: string; onA: string; onB: string };
  /** A URL on loopback where nothing listens. */
  closedUrl: string;
  errors: string[];
  reseed(): Promise<void>;
  close(): Promise<void>;
}

export async function startFixture(): Promise<Fixture> {
  const sql = await openStore();
  const errors: string[] = [];
  const engine = await createEngine({
    sql,
    apiTokens: [API_TOKEN],
    allowPrivateTargets: true,
    maxWaitMs: 20,
    onError: (e) => errors.push((e as Error)?.message ?? String(e)),
  });
  const { server, port } = await listen(engine.app.fetch);
  const closed = await listen(() => new Response());
  const closedUrl = `http://127.0.0.1:${closed.port}/`;
  await closeServer(closed.server);
  const f = { engine, sql, url: `http://127.0.0.1:${port}`, closedUrl, errors } as Fixture;
  f.reseed = () => seed(f);
  f.close = async () => {
    await closeServer(server as ServerType);
    await engine.stop();
    await sql.close();
  };
  await seed(f);
  return f;
}

async function seed(f: Fixture): Promise<void> {
  await truncateAll(f.sql);
  await f.engine.rotateKey().catch(() => undefined);
  const mint = (kind: 'api' | 'worker', name?: string) => f.engine.createToken(kind, name);
  const scoped = (scope: 'read' | 'enqueue') => f.engine.createToken('api', undefined, scope);
  const revoked = await mint('worker', 'fuzz-a');
  await revokeToken(f.sql, revoked.id, Date.now());
  const workerA = (await mint('worker', 'fuzz-a')).token;
  f.tokens = {
    api: API_TOKEN,
    mintedApi: (await mint('api')).token,
    readApi: (await scoped('read')).token,
    enqueueApi: (await scoped('enqueue')).token,
    workerA,
    workerB: (await mint('worker', 'fuzz-b')).token,
    revoked: revoked.token,
    wrongSecret: `${workerA.slice(0, workerA.lastIndexOf('.'))}.${'A'.repeat(43)}`,
  };
  const register = async (name: string, token: string) => {
    const res = await f.engine.app.fetch(
      new Request(`${f.url}/v1/workers`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, url: `${f.closedUrl}${name}`, slots: 4, tasks: [] }),
      }),
    );
    return ((await res.json()) as { workerId: string }).workerId;
  };
  f.workers = {
    a: await register('fuzz-a', f.tokens.workerA),
    b: await register('fuzz-b', f.tokens.workerB),
  };
  const enqueue = async () => {
    const res = await f.engine.app.fetch(
      new Request(`${f.url}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'echo', input: { message: 'seed' }, retries: 2 }),
      }),
    );
    return ((await res.json()) as { id: string }).id;
  };
  f.runs = { queued: await enqueue(), onA: await enqueue(), onB: await enqueue() };
  const assign = (run: string, worker: string) =>
    f.sql.query(
      `UPDATE pw_runs SET state = 'RUNNING', attempt = 1, deliveries = 1, worker_id = $2, lease_expires_at = $3
       WHERE id = $1`,
      [run, worker, Date.now() + 3_600_000],
    );
  await assign(f.runs.onA, f.workers.a);
  await assign(f.runs.onB, f.workers.b);
}

/** Everything the engine could write, folded into one string: equal before and after means nothing was written. */
export async function fingerprint(sql: Sql): Promise<string> {
  const rows = await sql.query(`SELECT
    (SELECT count(*) || ':' || coalesce(sum(hashtext(concat_ws('|', id, state, attempt, failures, deliveries,
       worker_id, lease_expires_at, output::text, error::text, finished_at))), 0) FROM pw_runs) AS runs,
    (SELECT count(*) || ':' || coalesce(sum(hashtext(concat_ws('|', id, name, url, state, paused, slots,
       last_heartbeat_at, tasks::text, labels::text))), 0) FROM pw_workers) AS workers,
    (SELECT count(*) || ':' || coalesce(sum(hashtext(concat_ws('|', id, revoked_at))), 0) FROM pw_tokens) AS tokens,
    (SELECT count(*) || ':' || coalesce(sum(hashtext(concat_ws('|', kid, retired_at))), 0) FROM pw_keys) AS keys,
    (SELECT count(*) FROM pw_sticky) AS sticky`);
  return JSON.stringify(rows[0]);
}
