import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type NodeWorkerServer, serve } from '../../adapters/node.ts';
import { generateSigningKey, signPush } from '../../src/auth/index.ts';
import { revokeToken } from '../../src/engine/store/secrets.ts';
import { createLogger, createWorker, task } from '../../src/index.ts';
import { SIGNATURE_HEADER } from '../../src/protocol/index.ts';
import { type Harness, harnessPerTest, metricSum as metric, until } from '../support/engine.ts';

const stacks = harnessPerTest();
let stack: Harness | undefined;

describe('key rotation under load', () => {
  it('loses no push while the engine rotates its key between pushes', async () => {
    stack = await stacks.start();
    // The JWKS cooldown stays well under the lease (as 5 s is under 30 s by default).
    const rotating = await stack.addWorker('rotating', {
      slots: 8,
      keys: { jwksUrl: `${stack.served.url}/.well-known/jwks.json`, jwksCooldownMs: 500 },
    });
    const ids: string[] = [];
    const kids = new Set<string>();
    // Enqueue continuously; every tenth batch the engine rotates. The worker knows only the JWKS URL.
    for (let round = 0; round < 30; round++) {
      const runs = await stack.client.enqueueMany(
        Array.from({ length: 10 }, (_, i) => ({ task: 'echo', input: { message: `r${round}-${i}` } })),
      );
      ids.push(...runs.map((r) => r.id));
      if (round % 10 === 5) kids.add((await stack.client.rotateKeys()).kid);
      await new Promise((r) => setTimeout(r, 30));
    }
    for (const id of ids)
      expect((await stack.client.waitRun(id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    expect(kids.size).toBe(3);
    const engineMetrics = await (await fetch(`${stack.served.url}/metrics`)).text();
    expect(metric(engineMetrics, 'pushworker_pushes_total{status="202"}')).toBeGreaterThan(0);
    // Every push was taken: none refused for an unknown key, none re-sent.
    expect(
      metric(engineMetrics, 'pushworker_pushes_total') -
        metric(engineMetrics, 'pushworker_pushes_total{status="202"}'),
    ).toBe(0);
    expect(metric(rotating.worker.metrics.render(), 'pushworker_push_auth_failures_total')).toBe(0);
    const executions = rotating.started.map((s) => `${s.runId}#${s.attempt}`);
    expect(new Set(executions).size).toBe(ids.length);
    expect(executions).toHaveLength(ids.length);
  }, 60_000);
});

describe('revoked worker tokens', () => {
  it('refuses registration, heartbeats and events with a token revoked before use', async () => {
    stack = await stacks.start();
    const { id, token } = await stack.engine.createToken('worker', 'revoked-worker');
    expect(await revokeToken(stacks.sql, id, Date.now())).toBe(true);
    const post = (method: string, path: string, body: unknown) =>
      fetch(`${stack!.served.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, code: ((await r.json()) as any).error?.code }));
    const refused = { status: 401, code: 'unauthorized' };
    expect(
      await post('PUT', '/v1/workers', {
        name: 'revoked-worker',
        url: 'http://127.0.0.1:9/',
        slots: 1,
        tasks: [],
      }),
    ).toEqual(refused);
    expect(await post('POST', '/v1/workers/any/heartbeat', {})).toEqual(refused);
    expect(
      await post('POST', '/v1/events', {
        events: [{ runId: 'r', attempt: 1, type: 'started', at: new Date().toISOString() }],
      }),
    ).toEqual(refused);
    expect((await stack.client.listWorkers()).map((w) => w.name)).not.toContain('revoked-worker');
  });

  it('refuses a token revoked while in use once the engine token cache (10 s) has expired', async () => {
    stack = await stacks.start();
    const soon = await stack.addWorker('soon-revoked');
    const { token } = soon;
    const id = token.split('.')[1]!;
    await revokeToken(stacks.sql, id, Date.now());
    const heartbeat = () =>
      fetch(`${stack!.served.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          events: [{ runId: 'none', attempt: 1, type: 'heartbeat', at: new Date().toISOString() }],
        }),
      }).then((r) => r.status);
    await until(async () => (await heartbeat()) === 401, 'the revoked token to be refused', 15_000);
    await soon.close();
  }, 30_000);
});

describe('clock skew', () => {
  let server: NodeWorkerServer;
  const ran: string[] = [];
  let send: (offsetS: number, ttlS?: number) => Promise<{ status: number; code?: string; runId: string }>;

  beforeAll(async () => {
    const key = await generateSigningKey('EdDSA', 'skew-key');
    const worker = createWorker({
      name: 'skewed',
      tasks: [task({ name: 'echo', input: z.object({}), run: (_i, ctx) => void ran.push(ctx.runId) })],
      keys: { jwks: { keys: [key.publicJwk] } },
      logger: createLogger('silent'),
    });
    server = await serve(worker, { port: 0, hostname: '127.0.0.1', start: false, handleSignals: false });
    send = async (offsetS, ttlS = 60) => {
      const runId = `skew-${offsetS}-${ttlS}-${crypto.randomUUID()}`;
      const body = JSON.stringify({ v: 1, assignments: [{ runId, attempt: 1, task: 'echo', input: {} }] });
      const signature = await signPush({
        key: key.signing,
        issuer: 'engine',
        audience: 'skewed',
        body,
        ttlS,
        now: Math.floor(Date.now() / 1000) + offsetS,
      });
      const r = await fetch(server.url, { method: 'POST', headers: { [SIGNATURE_HEADER]: signature }, body });
      return { status: r.status, code: ((await r.json()) as any).error?.code, runId };
    };
  });
  afterAll(() => server.close());

  it('accepts a push from an engine clock 20 s ahead or whose token expired 20 s ago (30 s tolerance)', async () => {
    const ahead = await send(20);
    const late = await send(-80, 60);
    expect([ahead.status, late.status]).toEqual([202, 202]);
    await until(() => ran.includes(ahead.runId) && ran.includes(late.runId), 'both runs');
  });

  it('refuses, running nothing, a push from a clock 40 s ahead or expired 40 s ago', async () => {
    const ahead = await send(40);
    const late = await send(-100, 60);
    expect(ahead).toMatchObject({ status: 401, code: 'expired' });
    expect(late).toMatchObject({ status: 401, code: 'expired' });
    // Runs start in the order their pushes are taken: once a later good one has run, the refused ones never will.
    const sentinel = await send(0);
    expect(sentinel.status).toBe(202);
    await until(() => ran.includes(sentinel.runId), 'a push taken after the refused ones to run');
    expect(ran).not.toContain(ahead.runId);
    expect(ran).not.toContain(late.runId);
  });
});

describe('a worker trusting the engine JWKS URL', () => {
  let jwks: { keys: Record<string, unknown>[] };
  let fetches = 0;
  let server: { close(): Promise<void> };
  let url: string;

  beforeAll(async () => {
    const { listen, closeServer } = await import('../support/sink.ts');
    const jwksServer = await listen(() => {
      fetches++;
      return Response.json(jwks);
    });
    url = `http://127.0.0.1:${jwksServer.port}/.well-known/jwks.json`;
    server = { close: () => closeServer(jwksServer.server) };
  });
  afterAll(() => server.close());

  // Regression: a rotation within the JWKS cooldown after the worker's last fetch made pushes signed with the
  // new key answer 401 unknown_key until the cooldown ended (5 s), costing the engine a delivery each.
  it('takes a push signed with a key published just after its last JWKS fetch, and fetches once more', async () => {
    const first = await generateSigningKey('EdDSA', 'first');
    const second = await generateSigningKey('EdDSA', 'second');
    jwks = { keys: [first.publicJwk as Record<string, unknown>] };
    const ran: string[] = [];
    const worker = createWorker({
      name: 'jwks-worker',
      tasks: [task({ name: 'echo', input: z.object({}), run: (_i, ctx) => void ran.push(ctx.runId) })],
      keys: { jwksUrl: url, jwksCooldownMs: 1_000 },
      logger: createLogger('silent'),
    });
    const push = async (key: typeof first, runId: string) => {
      const body = JSON.stringify({ v: 1, assignments: [{ runId, attempt: 1, task: 'echo', input: {} }] });
      const signature = await signPush({ key: key.signing, issuer: 'e', audience: 'jwks-worker', body });
      const res = await worker.fetch(
        new Request('http://worker/', { method: 'POST', headers: { [SIGNATURE_HEADER]: signature }, body }),
      );
      return { status: res.status, code: ((await res.json()) as any).error?.code };
    };
    expect((await push(first, 'a')).status).toBe(202);
    fetches = 0;
    jwks = {
      keys: [second.publicJwk as Record<string, unknown>, first.publicJwk as Record<string, unknown>],
    };
    const [b, c] = await Promise.all([push(second, 'b'), push(second, 'c')]);
    expect([b.status, c.status]).toEqual([202, 202]);
    expect(fetches).toBe(1);
    await until(() => ran.length === 3, 'three runs');

    // A kid the engine never published waits out the same cooldown, then is refused: one more fetch at most.
    const stranger = await generateSigningKey('EdDSA', 'stranger');
    fetches = 0;
    const forged = await Promise.all([push(stranger, 'x'), push(stranger, 'y'), push(stranger, 'z')]);
    expect(forged.map((f) => f.code)).toEqual(['unknown_key', 'unknown_key', 'unknown_key']);
    expect(fetches).toBeLessThanOrEqual(1);
    expect(ran.sort()).toEqual(['a', 'b', 'c']);
  });
});
