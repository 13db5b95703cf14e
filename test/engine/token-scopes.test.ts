// API token scopes: every route answers each caller as ROUTE_ACCESS says, a token below admin acts only on its own
// runs, tokens are minted with a scope, rows from before scopes act as admin, and revocation still holds.
import { describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { type Client, createClient } from '../../src/client/index.ts';
import { ROUTE_ACCESS, type RouteAccess } from '../../src/engine/api/access.ts';
import { createEngine, serveEngine } from '../../src/engine/index.ts';
import { migrate } from '../../src/engine/store/migrations.ts';
import { ApiScope, scopeAllows } from '../../src/protocol/schemas.ts';
import { fast, type Harness, harnessPerTest } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

/** The last schema version from before scopes. */
const BEFORE_SCOPES = 4;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

type Caller = 'anonymous' | 'worker' | ApiScope;
const CALLERS: Caller[] = ['anonymous', 'worker', ...ApiScope.options];

/** What a caller should meet on a route of the given access: refused (with which answer), or let through. */
function expectedOutcome(access: RouteAccess, caller: Caller): string {
  if (access === 'public') return 'let through';
  if (access === 'worker') return caller === 'worker' ? 'let through' : '401 unauthorized';
  if (caller === 'anonymous' || caller === 'worker') return '401 unauthorized';
  return scopeAllows(caller, access) ? 'let through' : '403 forbidden';
}

describe.each(storeTargets('pw_token_scopes'))('API token scopes on $name', ({ open, openBare }) => {
  const harness = harnessPerTest(open);
  let h: Harness;
  const clientOf = (token: string): Client => createClient({ url: h.url, token });
  const mint = async (scope: ApiScope) =>
    clientOf((await h.client.createToken('api', undefined, scope)).token);

  it('names every route the app registers in the access table, and no route the app lacks', async () => {
    h = await harness.start();
    const registered = new Set(
      h.engine.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`),
    );
    expect([...registered].sort()).toEqual(Object.keys(ROUTE_ACCESS).sort());
  });

  it('answers every route for each caller as the access table says', async () => {
    h = await harness.start();
    const tokens: Record<Caller, string | undefined> = {
      anonymous: undefined,
      worker: (await h.engine.createToken('worker', 'walker')).token,
      read: (await h.client.createToken('api', undefined, 'read')).token,
      enqueue: (await h.client.createToken('api', undefined, 'enqueue')).token,
      admin: (await h.client.createToken('api', undefined, 'admin')).token,
    };
    const actual: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const [route, access] of Object.entries(ROUTE_ACCESS)) {
      const [method, path] = route.split(' ') as [string, string];
      for (const caller of CALLERS) {
        const token = tokens[caller];
        // An empty body and ids of nothing: a route that lets the caller through answers 400 or 404 and changes
        // nothing (but a key rotation); the point is only whether it lets the caller through.
        const response = await fetch(h.url + path.replaceAll(':id', 'nothing-here'), {
          method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
          },
          ...(method === 'GET' ? {} : { body: '{}' }),
        });
        const text = await response.text();
        const refused = response.status === 401 || response.status === 403;
        const key = `${route} as ${caller}`;
        actual[key] = refused ? `${response.status} ${JSON.parse(text).error.code}` : 'let through';
        expected[key] = expectedOutcome(access, caller);
      }
    }
    expect(actual).toEqual(expected);

    // What the table grants below admin, spelled out: widening a lesser scope takes a change here as well.
    const letThrough = (caller: Caller) =>
      Object.keys(ROUTE_ACCESS).filter(
        (route) =>
          actual[`${route} as ${caller}`] === 'let through' &&
          ROUTE_ACCESS[route as keyof typeof ROUTE_ACCESS] !== 'public',
      );
    const reads = [
      'GET /v1/whoami',
      'GET /v1/runs',
      'GET /v1/runs/:id',
      'GET /v1/runs/:id/wait',
      'GET /v1/runs/:id/logs',
      'GET /v1/stats/tasks',
      'GET /v1/stats/runs',
      'GET /v1/stats/series',
      'GET /v1/workers',
      'GET /v1/rate-limits',
      'GET /v1/schedules',
      'GET /v1/schedules/:name',
      'GET /v1/events',
      'GET /v1/events/:id',
      'GET /v1/workflows',
      'GET /v1/workflow-runs',
      'GET /v1/workflow-runs/:id',
      'GET /v1/workflow-runs/:id/wait',
    ];
    expect(letThrough('read').sort()).toEqual(reads.sort());
    expect(letThrough('enqueue').sort()).toEqual(
      [
        ...reads,
        'POST /v1/runs',
        'POST /v1/runs/bulk',
        'POST /v1/runs/:id/cancel',
        'POST /v1/runs/:id/retry',
        'POST /v1/events/publish',
        'POST /v1/events/publish/bulk',
        'POST /v1/workflow-runs',
        'POST /v1/workflow-runs/:id/cancel',
        'POST /v1/workflow-runs/:id/retry',
      ].sort(),
    );
  });

  it('lets a read token read runs, workers and stats, and refuses it anything that changes them', async () => {
    h = await harness.start();
    const run = await h.client.enqueue({ task: 'nobody-serves-this' });
    const { token } = await h.client.createToken('api', undefined, 'read');
    const reader = clientOf(token);
    expect(await reader.whoami()).toMatchObject({ kind: 'api', scope: 'read' });
    expect((await reader.listRuns()).runs.map((r) => r.id)).toEqual([run.id]);
    expect((await reader.getRun(run.id)).state).toBe('QUEUED');
    expect((await reader.waitRun(run.id, { timeoutMs: 0 })).id).toBe(run.id);
    expect(await reader.listWorkers()).toEqual([]);
    expect((await reader.taskStats()).map((s) => s.task)).toEqual(['nobody-serves-this']);

    const refused = [
      reader.enqueue({ task: 'nobody-serves-this' }),
      reader.enqueueMany([{ task: 'nobody-serves-this' }]),
      reader.cancel(run.id),
      reader.retryRun(run.id),
      reader.createToken('api', undefined, 'read'),
      reader.rotateKeys(),
    ];
    for (const attempt of refused) expect(await codeOf(attempt)).toBe('forbidden');
    expect((await h.client.listRuns()).runs.map((r) => r.id)).toEqual([run.id]);
    expect((await h.client.getRun(run.id)).state).toBe('QUEUED');

    const response = await fetch(`${h.url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'nobody-serves-this' }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: {
        code: 'forbidden',
        message: "this route needs a token of scope enqueue or more; this token's scope is read",
      },
    });
  });

  it("lets an enqueue token cancel and retry the runs it enqueued, and refuses it another token's", async () => {
    h = await harness.start();
    const mine = await mint('enqueue');
    const other = await mint('enqueue');
    const admin = await mint('admin');
    const task = 'nobody-serves-this';
    const own = await mine.enqueue({ task });
    const [ownInBulk] = await mine.enqueueMany([{ task }]);
    const ofOthers = [
      await other.enqueue({ task }),
      await admin.enqueue({ task }),
      await h.client.enqueue({ task }),
    ];

    expect((await mine.cancel(own.id)).state).toBe('CANCELLED');
    expect((await mine.retryRun(own.id)).state).toBe('QUEUED');
    expect((await mine.cancel(ownInBulk!.id)).state).toBe('CANCELLED');
    for (const run of ofOthers) {
      expect(await codeOf(mine.cancel(run.id))).toBe('forbidden');
      expect((await h.client.getRun(run.id)).state).toBe('QUEUED');
    }
    const response = await fetch(`${h.url}/v1/runs/${ofOthers[0]!.id}/cancel`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${(await h.client.createToken('api', undefined, 'enqueue')).token}`,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error).toEqual({
      code: 'forbidden',
      message:
        'a token of scope enqueue acts only on runs it enqueued; this run was enqueued by another token',
    });

    // A finished run of another token is not retried either; admin cancels and retries any run.
    expect((await admin.cancel(ofOthers[0]!.id)).state).toBe('CANCELLED');
    expect(await codeOf(mine.retryRun(ofOthers[0]!.id))).toBe('forbidden');
    expect((await h.client.getRun(ofOthers[0]!.id)).state).toBe('CANCELLED');
    expect((await admin.retryRun(ofOthers[0]!.id)).state).toBe('QUEUED');
    expect((await admin.cancel(own.id)).state).toBe('CANCELLED');

    // The same idempotency key answers with the first token's run, which stays that token's.
    const keyed = await mine.enqueue({ task, idempotencyKey: 'shared-key' });
    const again = await other.enqueue({ task, idempotencyKey: 'shared-key' });
    expect(again).toMatchObject({ id: keyed.id, created: false });
    expect(await codeOf(other.cancel(keyed.id))).toBe('forbidden');
    expect((await mine.cancel(keyed.id)).state).toBe('CANCELLED');

    expect(await codeOf(mine.cancel('run_missing'))).toBe('not_found');
    expect(await codeOf(mine.retryRun('run_missing'))).toBe('not_found');
  });

  it('refuses an enqueue token what only admin may do, and lets admin do it', async () => {
    h = await harness.start();
    const worker = await h.addWorker('scoped-worker');
    const enqueuer = await mint('enqueue');
    const admin = await mint('admin');
    const victim = await h.client.createToken('api', undefined, 'read');
    const adminOnly: Record<string, (c: Client) => Promise<unknown>> = {
      'mint a token': (c) => c.createToken('api', undefined, 'admin'),
      'revoke a token': (c) => c.revokeToken(victim.id),
      'rotate the keys': (c) => c.rotateKeys(),
      'register a worker by URL': (c) => c.registerWorker('http://127.0.0.1:1'),
      'pause a worker': (c) => c.pauseWorker(worker.id!),
      'resume a worker': (c) => c.resumeWorker(worker.id!),
      'remove a worker': (c) => c.deleteWorker(worker.id!),
      'retry runs in bulk': (c) => c.retryRuns({ state: ['FAILED'] }),
    };
    const byEnqueuer: Record<string, string> = {};
    for (const [what, call] of Object.entries(adminOnly)) byEnqueuer[what] = await codeOf(call(enqueuer));
    expect(byEnqueuer).toEqual(Object.fromEntries(Object.keys(adminOnly).map((k) => [k, 'forbidden'])));
    expect((await h.client.listWorkers()).map((w) => w.state)).toEqual(['ACTIVE']);
    expect(await codeOf(clientOf(victim.token).whoami())).toBe('ok');

    const byAdmin: Record<string, string> = {};
    for (const [what, call] of Object.entries(adminOnly)) byAdmin[what] = await codeOf(call(admin));
    expect(byAdmin).toEqual({
      'mint a token': 'ok',
      'revoke a token': 'ok',
      'rotate the keys': 'ok',
      // Let through: the engine tried the address, where nothing listens.
      'register a worker by URL': 'invalid_request',
      'pause a worker': 'ok',
      'resume a worker': 'ok',
      // Let through: an ACTIVE worker is not removed.
      'remove a worker': 'conflict',
      'retry runs in bulk': 'ok',
    });
    expect(await codeOf(clientOf(victim.token).whoami())).toBe('unauthorized');
  });

  it('mints API tokens of each scope, admin by default, and refuses a scope on a worker token or an unknown one', async () => {
    h = await harness.start();
    for (const scope of ApiScope.options) {
      const minted = await h.client.createToken('api', undefined, scope);
      expect(minted.scope).toBe(scope);
      expect(await clientOf(minted.token).whoami()).toEqual({ kind: 'api', scope, id: minted.id });
    }
    const plain = await h.client.createToken('api');
    expect(plain.scope).toBe('admin');
    expect(await clientOf(plain.token).whoami()).toEqual({ kind: 'api', scope: 'admin', id: plain.id });
    const fromEngine = await h.engine.createToken('api', undefined, 'read');
    expect((await clientOf(fromEngine.token).whoami()).scope).toBe('read');
    expect(await h.client.whoami()).toEqual({ kind: 'api', scope: 'admin', id: null });

    const workerToken = await h.client.createToken('worker', 'some-worker');
    expect(workerToken.scope).toBeUndefined();
    expect(await codeOf(clientOf(workerToken.token).whoami())).toBe('unauthorized');

    const post = async (body: unknown) => {
      const response = await fetch(`${h.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${plain.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return {
        status: response.status,
        body: (await response.json()) as { error: { code: string; message: string } },
      };
    };
    const scopedWorker = await post({ kind: 'worker', worker: 'some-worker', scope: 'read' });
    expect(scopedWorker.status).toBe(400);
    expect(scopedWorker.body.error).toEqual({
      code: 'invalid_request',
      message: 'a worker token has no scope: it speaks for one worker name',
    });
    const unknown = await post({ kind: 'api', scope: 'root' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('invalid_request');
  });

  it('takes an API token minted before scopes as admin, after the migration and from a replica not yet upgraded', async () => {
    const sql = await openBare();
    try {
      await migrate(sql, BEFORE_SCOPES);
      const insertOldStyle = async () => {
        const minted = await mintToken();
        await sql.query(
          'INSERT INTO pw_tokens (id, kind, worker_name, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)',
          [minted.id, 'api', null, minted.secretHash, Date.now()],
        );
        return minted;
      };
      const beforeMigration = await insertOldStyle();
      await migrate(sql);
      const rows = await sql.query('SELECT scope FROM pw_tokens WHERE id = $1', [beforeMigration.id]);
      expect(rows[0]?.scope).toBe('admin');
      // A replica still on the older engine writes rows without a scope.
      const fromOlderReplica = await insertOldStyle();

      const engine = await createEngine({ ...fast, sql });
      const served = await serveEngine(engine);
      try {
        for (const old of [beforeMigration, fromOlderReplica]) {
          const client = createClient({ url: served.url, token: old.token });
          expect(await client.whoami()).toEqual({ kind: 'api', scope: 'admin', id: old.id });
          expect(await codeOf(client.rotateKeys())).toBe('ok');
        }
      } finally {
        await served.close();
      }
    } finally {
      await sql.close();
    }
  });

  it('refuses a scoped token at once when it is revoked, though it was used a moment before', async () => {
    h = await harness.start();
    const minted = await h.client.createToken('api', undefined, 'enqueue');
    const client = clientOf(minted.token);
    expect((await client.enqueue({ task: 'nobody-serves-this' })).state).toBe('QUEUED');
    await h.client.revokeToken(minted.id);
    expect(await codeOf(client.whoami())).toBe('unauthorized');
    expect(await codeOf(client.enqueue({ task: 'nobody-serves-this' }))).toBe('unauthorized');
  });
});
