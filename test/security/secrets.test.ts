import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateSigningKey, signPush } from '../../src/auth/index.ts';
import { openStore, type Sql } from '../../src/engine/store/index.ts';
import { liveKeys, revokeToken } from '../../src/engine/store/secrets.ts';
import { SIGNATURE_HEADER } from '../../src/protocol/index.ts';
import { API_TOKEN, defaultTasks, fail, type Harness, startHarness, until } from '../support/engine.ts';
import { HATCHET_SECRET, hatchetHeaders } from '../support/hatchet.ts';

// Runs the engine and two workers through failures and hostile requests while capturing every log line and
// every answer body, then looks for any secret in them.
let sql: Sql;
let stack: Harness;
const captured: string[] = [];
const bodies: string[] = [];
const HS_SECRET = 'hs-shared-secret-never-to-be-logged-0123';

beforeAll(async () => {
  sql = await openStore();
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push(
        args
          .map((a) =>
            a instanceof Error ? `${a.message} ${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a),
          )
          .join(' '),
      );
    });
  }
  stack = await startHarness(sql);
});
afterAll(async () => {
  await stack?.close();
  await sql?.close();
  vi.restoreAllMocks();
});

async function record(response: Promise<Response>): Promise<number> {
  const res = await response;
  bodies.push(await res.text());
  return res.status;
}

describe('secrets in logs and error bodies', () => {
  it('never shows a token, key or secret, through failures, refusals and hostile requests', async () => {
    // Failures retried once, so that retries are part of the work.
    const tasks = [...defaultTasks.filter((t) => t !== fail), { ...fail, retries: 1 }];
    const { url: workerUrl, token: workerToken } = await stack.addWorker('secretive', {
      tasks,
      keys: { jwksUrl: `${stack.served.url}/.well-known/jwks.json`, secret: HS_SECRET },
      hatchet: { signingSecret: HATCHET_SECRET },
    });
    const { id: revokedId, token: revokedToken } = await stack.engine.createToken('worker', 'revoked');
    await revokeToken(sql, revokedId, Date.now());
    const locked = await stack.addWorker('locked-out', { tasks, token: revokedToken, waitActive: false });
    const minted = await stack.client.createToken('api');

    // Work with retries, fatal failures and completions.
    const runs = await stack.client.enqueueMany([
      { task: 'echo', input: { message: 'hi' } },
      { task: 'fail', input: { message: 'transient on purpose' } },
      { task: 'fail', input: { message: 'fatal on purpose', retryable: false } },
      { task: 'sleep', input: { wrong: 1 } },
    ]);
    for (const r of runs) await stack.client.waitRun(r.id, { timeoutMs: 15_000 });

    // Hostile requests to the worker: forged keys, a wrong HS secret, a bad Hatchet signature, garbage.
    const body = JSON.stringify({ v: 1, assignments: [{ runId: 'x', attempt: 1, task: 'echo', input: {} }] });
    const stranger = await generateSigningKey('EdDSA', 'stranger');
    const forged = await signPush({ key: stranger.signing, issuer: 'x', audience: 'secretive', body });
    const wrongHs = await signPush({
      key: { alg: 'HS256', key: new TextEncoder().encode(`${HS_SECRET}x`) },
      issuer: 'x',
      audience: 'secretive',
      body,
    });
    for (const signature of [forged, wrongHs, 'garbage', `${workerToken}`]) {
      await record(fetch(workerUrl, { method: 'POST', headers: { [SIGNATURE_HEADER]: signature }, body }));
    }
    await record(
      fetch(`${workerUrl}/hatchet/trigger`, {
        method: 'POST',
        headers: hatchetHeaders(body, { secret: 'w'.repeat(40) }),
        body,
      }),
    );
    await record(
      fetch(`${workerUrl}/hatchet/trigger`, {
        method: 'POST',
        headers: hatchetHeaders('{bad', {}),
        body: '{bad',
      }),
    );

    // Hostile requests to the engine: other kinds of tokens, revoked, mangled, in the wrong header.
    const engineCalls: [string, string, string | undefined][] = [
      ['GET', '/v1/runs', workerToken],
      ['POST', '/v1/events', API_TOKEN],
      ['POST', '/v1/events', `${workerToken}x`],
      ['POST', '/v1/events', revokedToken],
      ['PUT', '/v1/workers', minted.token],
      ['POST', '/v1/tokens', undefined],
      ['POST', '/v1/keys/rotate', workerToken],
      ['POST', '/v1/runs', `${API_TOKEN}`],
    ];
    for (const [method, path, token] of engineCalls) {
      await record(
        fetch(`${stack.served.url}${path}`, {
          method,
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: method === 'GET' ? undefined : '{"events": [1], "name": "x", "task": 5}',
        }),
      );
    }
    for (const path of ['/health', '/metrics', '/.well-known/jwks.json', '/v1/workers', '/v1/stats/tasks']) {
      await record(
        fetch(`${stack.served.url}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } }),
      );
    }
    for (const path of ['health', 'metrics']) await record(fetch(`${workerUrl}/${path}`));
    await until(
      () => stack.logs.some((l) => l.includes('registration failed')),
      'the locked-out worker to log its refusal',
    );
    await locked.close();

    const privateDs = (await liveKeys(sql, Date.now())).map((k) => String((k.privateJwk as JWK).d));
    const tokenSecrets = [workerToken, revokedToken, minted.token].map((t) => t.split('.')[2]!);
    const secrets: Record<string, string> = {
      'API token': API_TOKEN,
      'worker token': workerToken,
      'revoked token': revokedToken,
      'minted API token': minted.token,
      'HS256 secret': HS_SECRET,
      'Hatchet secret': HATCHET_SECRET,
      ...Object.fromEntries(tokenSecrets.map((s, i) => [`token secret ${i}`, s])),
      ...Object.fromEntries(privateDs.map((d, i) => [`private JWK d ${i}`, d])),
    };
    expect(privateDs.length).toBeGreaterThan(0);
    const haystacks = { logs: [...stack.logs, ...captured].join('\n'), bodies: bodies.join('\n') };
    expect(haystacks.logs.length).toBeGreaterThan(500);
    expect(bodies.length).toBeGreaterThan(15);
    const found: string[] = [];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [what, secret] of Object.entries(secrets))
        if (text.includes(secret)) found.push(`${what} in ${where}`);
    }
    expect(found).toEqual([]);
    // The published key set carries public halves only.
    const jwks = (await (await fetch(`${stack.served.url}/.well-known/jwks.json`)).json()) as {
      keys: { d?: string }[];
    };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  }, 60_000);
});
