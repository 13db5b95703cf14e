import fc from 'fast-check';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyOf,
  budgetMs,
  FUZZ_RUNS,
  hostileNumber,
  hostileString,
  hostileValue,
  pathSegment,
  shaped,
} from './arbitraries.ts';
import { type Fixture, fingerprint, startFixture } from './engine-fixture.ts';
import { type Answer, answerOf, malformed } from './expect.ts';

// Every engine route under hostile input and every kind of credential: no 5xx, a documented code on every
// refusal, and nothing written by a refused request.
let f: Fixture;
const counts: Record<string, number> = {};

beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f?.close();
  console.log(`engine fuzz cases per family: ${JSON.stringify(counts)}`);
});

type Auth = keyof Fixture['tokens'] | 'none' | 'garbage' | 'basic';
const auths: Auth[] = [
  'api',
  'mintedApi',
  'readApi',
  'enqueueApi',
  'workerA',
  'workerB',
  'revoked',
  'wrongSecret',
  'none',
  'garbage',
  'basic',
];

interface Call {
  method: string;
  path: string;
  body?: string | Uint8Array;
  auth: Auth;
  overSocket: boolean;
}

async function send(call: Call): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (call.auth === 'garbage') headers.authorization = 'Bearer pwt.nope.nope';
  else if (call.auth === 'basic') headers.authorization = `Basic ${btoa(`x:${f.tokens.api}`)}`;
  else if (call.auth !== 'none') headers.authorization = `Bearer ${f.tokens[call.auth]}`;
  const init = {
    method: call.method,
    headers,
    ...(call.body === undefined ? {} : { body: call.body as BodyInit }),
  };
  const url = `${f.url}${call.path}`;
  if (!call.overSocket) return answerOf(await f.engine.app.fetch(new Request(url, init)));
  const dispatcher = new Agent();
  try {
    return await answerOf((await undiciFetch(url, { ...init, dispatcher } as never)) as unknown as Response);
  } finally {
    await dispatcher.close().catch(() => {});
  }
}

/** Sends `call` and checks the invariants; returns the answer for family-specific checks. */
async function check(family: string, call: Call): Promise<Answer> {
  counts[family] = (counts[family] ?? 0) + 1;
  const before = await fingerprint(f.sql);
  const errorsBefore = f.errors.length;
  const answer = await send(call);
  const refused = answer.status >= 400;
  const staleOnly =
    Array.isArray(answer.json?.results) && answer.json.results.every((r: string) => r === 'stale');
  if (refused || staleOnly) {
    const after = await fingerprint(f.sql);
    if (after !== before)
      throw new Error(`a refused ${call.method} ${call.path} (${answer.status}) wrote to the store`);
  }
  if (answer.status >= 500) {
    throw new Error(
      `${answer.status} for ${call.method} ${call.path}: ${f.errors.slice(errorsBefore).join('; ')}`,
    );
  }
  const secrets = [f.tokens.api, f.tokens.mintedApi, f.tokens.workerA, f.tokens.workerB];
  // A token minted by this very request is the one place a secret belongs in an answer.
  const problem = malformed(
    answer,
    call.path === '/v1/tokens' && answer.status === 201 ? [] : secrets,
    call.method,
  );
  if (problem) throw new Error(`${call.method} ${call.path}: ${problem}`);
  return answer;
}

const segment = (fixed: () => string[]) => fc.oneof(fc.constantFrom(...fixed()), pathSegment);
const enqueueShape = shaped({
  task: fc.oneof(hostileString, fc.constantFrom('echo', 'sleep')),
  input: hostileValue,
  idempotencyKey: hostileString,
  priority: hostileNumber,
  affinity: shaped({
    required: fc.dictionary(hostileString, hostileString),
    preferred: fc.array(hostileValue),
  }),
  sticky: shaped({ key: hostileString, mode: fc.constantFrom('soft', 'hard') }),
  concurrency: shaped({ key: hostileString, limit: hostileNumber }),
  timeoutMs: fc.integer({ min: 1, max: 1_000_000 }),
  retries: fc.integer({ min: 0, max: 1000 }),
  slotCost: fc.integer({ min: 1, max: 100 }),
  metadata: fc.dictionary(hostileString, hostileValue, { maxKeys: 3 }),
});
const status = (s: Answer) => s.status;

/** The scope a call of the client API needs, as the route table gives it (test/engine/token-scopes walks that). */
function scopeNeeded(c: { method: string; path: string }): 'read' | 'enqueue' | 'admin' {
  if (c.method === 'GET') return 'read';
  if (c.method === 'POST' && /^\/v1\/runs(\/bulk|\/[^/]+\/(cancel|retry))?$/.test(c.path)) return 'enqueue';
  return 'admin';
}

describe('engine API fuzz', () => {
  it(
    'client API (/v1/runs*, /v1/workers*, /v1/schedules*, /v1/stats/tasks, /v1/tokens, /v1/keys/rotate): any token, any body',
    async () => {
      const runId = () => [f.runs.queued, f.runs.onB];
      const workerId = () => [f.workers.a];
      const call = fc.oneof(
        fc.record({ method: fc.constant('POST'), path: fc.constant('/v1/runs'), body: bodyOf(enqueueShape) }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/v1/runs/bulk'),
          body: bodyOf(shaped({ runs: fc.array(enqueueShape, { maxLength: 4 }) })),
        }),
        fc.record({
          method: fc.constant('GET'),
          path: fc
            .array(fc.tuple(fc.constantFrom('state', 'task', 'limit', 'cursor', 'x'), pathSegment), {
              maxLength: 3,
            })
            .map((q) => `/v1/runs?${q.map(([k, v]) => `${k}=${v}`).join('&')}`),
        }),
        fc.record({ method: fc.constant('GET'), path: segment(runId).map((id) => `/v1/runs/${id}`) }),
        fc.record({
          method: fc.constant('GET'),
          path: fc.tuple(segment(runId), pathSegment).map(([id, t]) => `/v1/runs/${id}/wait?timeoutMs=${t}`),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc
            .tuple(segment(runId), fc.constantFrom('cancel', 'retry'))
            .map(([id, action]) => `/v1/runs/${id}/${action}`),
          body: bodyOf(fc.constant({})),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/v1/runs/retry'),
          body: bodyOf(
            shaped({
              state: fc.oneof(fc.constantFrom('FAILED', 'CANCELLED', 'COMPLETED'), hostileString),
              task: hostileString,
              limit: hostileNumber,
            }),
          ),
        }),
        fc.record({
          method: fc.constant('DELETE'),
          path: fc
            .tuple(fc.constantFrom('workers', 'tokens'), segment(workerId))
            .map(([kind, id]) => `/v1/${kind}/${id}`),
        }),
        fc.record({
          method: fc.constant('GET'),
          path: fc.constantFrom(
            '/v1/workers',
            '/v1/stats/tasks',
            '/v1/whoami',
            '/health',
            '/metrics',
            '/.well-known/jwks.json',
          ),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc
            .tuple(segment(workerId), fc.constantFrom('pause', 'resume'))
            .map(([id, a]) => `/v1/workers/${id}/${a}`),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/v1/workers/register'),
          body: bodyOf(
            shaped({
              url: fc.oneof(
                fc.constant(f.closedUrl),
                hostileString.filter((s) => !/^(https?|wss?|ftp):/i.test(s.trim())),
              ),
              name: hostileString,
            }),
          ),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/v1/tokens'),
          body: bodyOf(
            shaped({
              kind: fc.constantFrom('worker', 'api'),
              worker: hostileString,
              scope: fc.oneof(fc.constantFrom('read', 'enqueue', 'admin'), hostileString),
            }),
          ),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/v1/keys/rotate'),
          body: bodyOf(fc.constant({})),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/v1/schedules'),
          body: bodyOf(
            shaped({
              name: fc.oneof(fc.constantFrom('nightly', 'a:b.c-d'), hostileString),
              task: fc.oneof(hostileString, fc.constant('echo')),
              cron: fc.oneof(
                fc.constantFrom('0 3 * * *', '@daily', '*/5 * * * * *', '0 0 30 2 *'),
                hostileString,
              ),
              timezone: fc.oneof(fc.constantFrom('UTC', 'Europe/Paris', '+01:00'), hostileString),
              missed: fc.oneof(fc.constantFrom('latest', 'backfill'), hostileString),
              backfillLimit: hostileNumber,
              paused: hostileValue,
              input: hostileValue,
              metadata: fc.dictionary(hostileString, hostileValue, { maxKeys: 3 }),
            }),
          ),
        }),
        fc.record({
          method: fc.constantFrom('GET', 'DELETE'),
          path: segment(() => ['nightly']).map((name) => `/v1/schedules/${name}`),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc
            .tuple(
              segment(() => ['nightly']),
              fc.constantFrom('pause', 'resume'),
            )
            .map(([name, a]) => `/v1/schedules/${name}/${a}`),
          body: bodyOf(fc.constant({})),
        }),
        fc.record({ method: fc.constant('GET'), path: fc.constant('/v1/schedules') }),
        fc.record({
          method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
          path: fc.array(pathSegment, { minLength: 1, maxLength: 3 }).map((s) => `/v1/${s.join('/')}`),
        }),
      );
      await fc.assert(
        fc.asyncProperty(
          call,
          fc.constantFrom(...auths),
          fc.integer({ min: 0, max: 9 }),
          async (c, auth, t) => {
            const answer = await check('client', { ...(c as Call), auth, overSocket: t === 0 });
            const apiAuth = ['api', 'mintedApi', 'readApi', 'enqueueApi'].includes(auth);
            const known =
              !c.path.startsWith('/v1/') || /^\/v1\/(runs|workers|stats|tokens|keys|schedules)/.test(c.path);
            if (
              !apiAuth &&
              known &&
              !['/health', '/metrics', '/.well-known/jwks.json'].includes(c.path) &&
              status(answer) < 500
            )
              expect([401, 404]).toContain(status(answer));
            // A lesser token never gets through to what its scope does not allow, nor to a run it did not enqueue.
            const needed = scopeNeeded(c);
            const beyond =
              (auth === 'readApi' && needed !== 'read') ||
              (auth === 'enqueueApi' && (needed === 'admin' || /\/(cancel|retry)$/.test(c.path)));
            if (known && c.path.startsWith('/v1/') && beyond)
              expect(status(answer)).toBeGreaterThanOrEqual(400);
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    },
    budgetMs(FUZZ_RUNS * 2),
  );

  it(
    'worker API (PUT /v1/workers, heartbeat, /v1/events): tokens of another worker or kind, hostile bodies',
    async () => {
      await f.reseed();
      const at = fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        hostileString,
      );
      const event = shaped({
        runId: fc.oneof(fc.constantFrom(f.runs.onA, f.runs.onB, f.runs.queued), hostileString),
        attempt: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 3 }), hostileNumber),
        type: fc.constantFrom(
          'started',
          'heartbeat',
          'completed',
          'failed',
          'slot_released',
          'timeout_refreshed',
        ),
        at,
        output: hostileValue,
        error: shaped({ message: hostileString, name: hostileString, retryable: fc.boolean() }),
        incrementMs: fc.integer({ min: 1, max: 100_000 }),
      });
      const manifest = shaped({
        name: fc.oneof(fc.constantFrom('echo'), hostileString),
        inputSchema: fc.dictionary(hostileString, hostileValue, { maxKeys: 2 }),
        timeoutMs: fc.integer({ min: 1, max: 100_000 }),
        retries: fc.integer({ min: 0, max: 10 }),
        slotCost: fc.integer({ min: 1, max: 4 }),
      });
      const call = fc.oneof(
        fc.record({
          method: fc.constant('PUT'),
          path: fc.constant('/v1/workers'),
          body: bodyOf(
            shaped({
              name: fc.oneof(fc.constantFrom('fuzz-a', 'fuzz-b'), hostileString),
              url: fc.constant(`${f.closedUrl}fuzz-a`),
              slots: fc.integer({ min: 1, max: 64 }),
              labels: fc.dictionary(hostileString, fc.oneof(hostileString, hostileNumber), { maxKeys: 3 }),
              tasks: fc.array(manifest, { maxLength: 3 }),
            }),
          ),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc
            .oneof(fc.constantFrom(f.workers.a, f.workers.b), pathSegment)
            .map((id) => `/v1/workers/${id}/heartbeat`),
          body: bodyOf(
            shaped({
              state: fc.constantFrom('ACTIVE', 'STOPPED'),
              slots: shaped({ total: fc.nat(64), used: fc.nat(64) }),
            }),
          ),
        }),
        fc.record({
          method: fc.constant('POST'),
          path: fc.constant('/v1/events'),
          body: bodyOf(shaped({ events: fc.array(event, { minLength: 1, maxLength: 4 }) })),
        }),
      );
      await fc.assert(
        fc.asyncProperty(
          call,
          fc.constantFrom(...auths),
          fc.integer({ min: 0, max: 9 }),
          async (c, auth, t) => {
            const answer = await check('worker', { ...(c as Call), auth, overSocket: t === 0 });
            if (answer.status >= 500) return;
            // Paths like /v1/workers/../heartbeat normalise to a route that does not exist: 404.
            if (auth !== 'workerA' && auth !== 'workerB') expect([401, 404]).toContain(answer.status);
            // Worker A may never act on worker B's run or record, nor B on A's: refused, or answered stale.
            if (answer.status >= 300 || (auth !== 'workerA' && auth !== 'workerB')) return;
            const [otherRun, otherWorker] =
              auth === 'workerA' ? [f.runs.onB, f.workers.b] : [f.runs.onA, f.workers.a];
            expect(c.path).not.toContain(otherWorker);
            if (c.path === '/v1/events') {
              const events = JSON.parse(c.body as string).events as { runId: string }[];
              events.forEach((e, i) => {
                if (e.runId === otherRun) expect(answer.json.results[i]).toBe('stale');
              });
            }
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    },
    budgetMs(FUZZ_RUNS * 2),
  );
});
