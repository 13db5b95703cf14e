// One set of scenarios, written once, run against every deployment target (Node, Express, Hono, workerd, Lambda).
import { builtinModules } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/auth/index.ts';
import { SIGNATURE_HEADER } from '../../src/protocol/schemas.ts';
import { harnessPerTest } from '../support/engine.ts';
import { assignment, batch } from '../support/push.ts';
import { until } from '../support/until.ts';
import { clientOf, outcomeOf, rejectionsOf, takenOf } from './client.ts';
import { engineDurableScenario } from './engine-durable.ts';
import { engineWorkflowScenario } from './engine-workflow.ts';
import { hatchetScenarios } from './hatchet.ts';
import { bundleCloudflareExample, cloudflareMiniflare } from './targets/cloudflare.ts';
import { lambdaTargets } from './targets/lambda.ts';
import { expressMount, honoMount, nodeServe } from './targets/node.ts';
import {
  type Limitation,
  MAX_BODY_BYTES,
  type Reply,
  SLOTS,
  type Target,
  type TargetFactory,
  WORKER_NAME,
  WORKER_TOKEN,
} from './targets/target.ts';

const targets: TargetFactory[] = [nodeServe, expressMount, honoMount, cloudflareMiniflare, ...lambdaTargets];
/** The example tasks, then the order workflow's. */
const EXAMPLE_TASKS = [
  'echo',
  'sleep',
  'fail',
  'onboardUser',
  'fetchOrder',
  'priceOrder',
  'reserveStock',
  'invoiceOrder',
];
/** A real engine on an in-memory store, for the scenarios enqueued through it. */
const engine = harnessPerTest();

describe.each(targets)('$name', (factory) => {
  let t: Target;
  let c: ReturnType<typeof clientOf>;
  beforeAll(async () => {
    t = await factory.start();
    c = clientOf(t);
  });
  afterAll(() => t?.close());

  /** A scenario that needs what some runtime cannot give: registered as skipped there, with the reason. */
  const needing = (limitations: Limitation | Limitation[], title: string, fn: () => Promise<void>) => {
    const reason = [limitations]
      .flat()
      .map((l) => factory.unsupported?.[l])
      .find(Boolean);
    if (reason) it.skip(`${title} [unsupported here: ${reason}]`, fn);
    else it(title, fn);
  };

  /** Events travel in order, so once a later run's terminal event is in, every earlier event is too. */
  const drainEvents = async () => {
    const s = assignment('echo', { message: 'sentinel' });
    await outcomeOf(t, await c.push(batch(s)), s.runId);
  };
  const idle = async () => {
    let used: unknown;
    await until(
      async () => {
        used = (await c.get('/health')).json.slots.used;
        return used === 0;
      },
      'every slot to be free',
      { everyMs: 10, detail: () => `${used} in use` },
    );
  };

  it('runs a valid push and reports started and completed with the worker token', async () => {
    const a = assignment('echo', { message: 'hi' });
    const outcome = await outcomeOf(t, await c.push(batch(a)), a.runId);
    expect(outcome).toMatchObject({ status: 'completed', output: { message: 'hi' } });
    expect(outcome.events).toEqual(['started', 'completed']);
    expect(t.sink.authorizations).toContain(`Bearer ${WORKER_TOKEN}`);
  });

  it('verifies the signature over the exact raw bytes, non-ASCII text included', async () => {
    const message = 'héllo ✓ 日本語 🚀';
    const a = assignment('echo', { message });
    const outcome = await outcomeOf(t, await c.push(batch(a)), a.runId);
    expect(outcome.output).toEqual({ message });
  });

  describe('refuses, running nothing', () => {
    const refused = async (status: number, code: string, send: (body: string) => Promise<Reply>) => {
      const a = assignment('echo', { message: 'never' });
      const reply = await send(batch(a));
      expect(reply.status).toBe(status);
      expect(reply.json.error.code).toBe(code);
      await drainEvents();
      expect(t.sink.of(a.runId)).toEqual([]);
      return reply;
    };

    it('a push without a signature (401 bad_signature)', () =>
      refused(401, 'bad_signature', (b) => c.post(b)));

    it('a push signed by an untrusted key under a trusted kid (401 bad_signature)', async () => {
      const other = await generateSigningKey('EdDSA', 'test-key');
      await refused(401, 'bad_signature', (b) => c.push(b, { key: other.signing }));
    });

    it('an expired push (401 expired)', () =>
      refused(401, 'expired', (b) => c.push(b, { now: Math.floor(Date.now() / 1000) - 400 })));

    it('a push for another worker (401 wrong_audience)', () =>
      refused(401, 'wrong_audience', (b) => c.push(b, { audience: 'someone-else' })));

    it('a tampered body (401 body_mismatch)', () =>
      refused(401, 'body_mismatch', async (b) =>
        c.post(b.replace('never', 'nevr'), { [SIGNATURE_HEADER]: await t.pusher.sign(b) }),
      ));

    it('a replayed delivery (401 replay)', async () => {
      const a = assignment('echo', { message: 'once' });
      const body = batch(a);
      const signature = await t.pusher.sign(body);
      await outcomeOf(t, await c.post(body, { [SIGNATURE_HEADER]: signature }), a.runId);
      const again = await c.post(body, { [SIGNATURE_HEADER]: signature });
      expect(again.status).toBe(401);
      expect(again.json.error.code).toBe('replay');
      expect(t.sink.of(a.runId, 'started')).toHaveLength(1);
    });

    it('a push signed with an unknown kid (401 unknown_key)', async () => {
      const other = await generateSigningKey('EdDSA', 'rotated-away');
      await refused(401, 'unknown_key', (b) => c.push(b, { key: other.signing }));
    });

    it('a body over the limit (413 too_large)', () =>
      refused(413, 'too_large', (b) => c.push(b.replace('never', 'x'.repeat(MAX_BODY_BYTES + 1)))));

    it('malformed JSON (400 invalid_request)', () =>
      refused(400, 'invalid_request', (b) => c.push(b.slice(0, -1))));

    it('a body that is not a push (400 invalid_request)', () =>
      refused(400, 'invalid_request', (b) => c.push(b.replace('"v":1', '"v":2'))));
  });

  it('rejects an unknown task and invalid input per assignment, and runs the rest', async () => {
    const good = assignment('echo', { message: 'ok' });
    const unknown = assignment('nope', {});
    const invalid = assignment('echo', { message: 42 });
    const reply = await c.push(batch(good, unknown, invalid));
    expect(rejectionsOf(reply)).toMatchObject([
      { runId: unknown.runId, reason: 'unknown_task' },
      {
        runId: invalid.runId,
        reason: 'invalid_input',
        issues: [{ path: ['message'], code: 'invalid_type' }],
      },
    ]);
    expect(takenOf(reply)).toEqual([good.runId]);
    await outcomeOf(t, reply, good.runId);
    expect(t.sink.of(unknown.runId)).toEqual([]);
    expect(t.sink.of(invalid.runId)).toEqual([]);
  });

  describe('slot budget', () => {
    it('takes what fits in a batch and rejects the rest as no_slot', async () => {
      await idle();
      const runs = Array.from({ length: SLOTS + 1 }, (_, i) => assignment('echo', { message: `m${i}` }));
      const reply = await c.push(batch(...runs));
      const over = runs.at(-1)!;
      expect(rejectionsOf(reply)).toMatchObject([{ runId: over.runId, reason: 'no_slot' }]);
      for (const a of runs.slice(0, -1))
        expect((await outcomeOf(t, reply, a.runId)).status).toBe('completed');
      expect(t.sink.of(over.runId)).toEqual([]);
    });

    it('answers 429 with Retry-After when no assignment fits', async () => {
      await idle();
      const a = assignment('echo', { message: 'too big' }, { slotCost: SLOTS + 1 });
      const reply = await c.push(batch(a));
      expect(reply.status).toBe(429);
      expect(reply.json.error.code).toBe('no_slot');
      expect(reply.headers.get('retry-after')).toBeTruthy();
    });

    needing('concurrent-requests', 'answers 429 while running tasks hold every slot', async () => {
      await idle();
      const long = assignment('sleep', { ms: 60_000 }, { slotCost: SLOTS });
      const pending = c.push(batch(long));
      await t.sink.waitFor(() => t.sink.of(long.runId, 'started').length === 1);
      const reply = await c.push(batch(assignment('echo', { message: 'no room' })));
      expect(reply.status).toBe(429);
      expect(reply.json.error.code).toBe('no_slot');
      expect(reply.headers.get('retry-after')).toBeTruthy();
      // End the long run the way the engine would: its next heartbeat is answered stale.
      t.sink.stale.add(long.runId);
      expect([200, 202]).toContain((await pending).status);
      await idle();
    });
  });

  it('runs a runId and attempt once, refusing a redelivery as duplicate', async () => {
    const a = assignment('echo', { message: 'twice' });
    await outcomeOf(t, await c.push(batch(a)), a.runId);
    const again = await c.push(batch(a));
    expect(rejectionsOf(again)).toMatchObject([{ runId: a.runId, reason: 'duplicate' }]);
    expect(takenOf(again)).toEqual([]);
    const inBatch = assignment('echo', { message: 'in one batch' });
    expect(rejectionsOf(await c.push(batch(inBatch, inBatch)))).toMatchObject([{ reason: 'duplicate' }]);
    await drainEvents();
    expect(t.sink.of(a.runId, 'started')).toHaveLength(1);
    expect(t.sink.of(inBatch.runId, 'started')).toHaveLength(1);
    // A new attempt of the same run is another run.
    const next = { ...a, attempt: 2 };
    expect(takenOf(await c.push(batch(next)))).toEqual([a.runId]);
  });

  it('reports a failing task: a thrown error is retryable, NonRetryableError is final', async () => {
    const retryable = assignment('fail', { message: 'boom' });
    const final = assignment('fail', { message: 'bad for good', retryable: false });
    const reply = await c.push(batch(retryable, final));
    expect(await outcomeOf(t, reply, retryable.runId)).toMatchObject({
      status: 'failed',
      error: { name: 'Error', message: 'boom', retryable: true },
    });
    expect(await outcomeOf(t, reply, final.runId)).toMatchObject({
      status: 'failed',
      error: { name: 'NonRetryableError', message: 'bad for good', retryable: false },
    });
  });

  it('heartbeats while a long task runs', async () => {
    const a = assignment('sleep', { ms: 500 });
    const outcome = await outcomeOf(t, await c.push(batch(a)), a.runId);
    expect(outcome.status).toBe('completed');
    expect(outcome.events.filter((e) => e === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    expect(outcome.events.at(-1)).toBe('completed');
  });

  needing(
    'concurrent-requests',
    'cancels a running task on a cancel push: the signal fires and it fails as Cancelled',
    async () => {
      await idle();
      const a = assignment('sleep', { ms: 60_000 });
      const pending = c.push(batch(a));
      await t.sink.waitFor(() => t.sink.of(a.runId, 'started').length === 1);
      const cancel = await c.push(
        JSON.stringify({
          v: 1,
          cancel: [
            { runId: a.runId, attempt: 1 },
            { runId: 'gone', attempt: 1 },
          ],
        }),
      );
      expect(cancel.status).toBe(200);
      expect(cancel.json).toEqual({
        cancelled: [{ runId: a.runId, attempt: 1 }],
        unknown: [{ runId: 'gone', attempt: 1 }],
      });
      expect(await outcomeOf(t, await pending, a.runId)).toMatchObject({
        status: 'failed',
        error: { name: 'Cancelled', retryable: false },
      });
      // The sleep task returns before its minute, freeing its slot, only when its signal fires.
      await idle();
    },
  );

  it('stops a run when the engine answers stale, and says nothing more about it', async () => {
    const a = assignment('sleep', { ms: 60_000 });
    t.sink.stale.add(a.runId);
    const reply = await c.push(batch(a));
    if (t.mode === 'sync') expect(reply.json.results).toEqual([]);
    else expect(takenOf(reply)).toEqual([a.runId]);
    await idle();
    await drainEvents();
    expect(t.sink.of(a.runId).map((e) => e.type)).not.toContain('completed');
    expect(t.sink.of(a.runId).map((e) => e.type)).not.toContain('failed');
  });

  it('serves /health with the slot budget and the task names', async () => {
    const reply = await c.get('/health');
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ status: 'ok', name: WORKER_NAME, slots: { total: SLOTS } });
    expect(reply.json.tasks).toEqual(EXAMPLE_TASKS);
  });

  it('serves /metrics in Prometheus text format', async () => {
    const reply = await c.get('/metrics');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(reply.text).toContain(`pushworker_slots_total ${SLOTS}`);
    expect(reply.text).toMatch(/pushworker_runs_completed_total\{task="echo"\} [1-9]/);
    expect(reply.text).toMatch(/pushworker_push_auth_failures_total\{code="bad_signature"\} [1-9]/);
  });

  it('serves the manifest on a signed GET, and refuses an unsigned one', async () => {
    const reply = await c.get('/', { signed: true });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ name: WORKER_NAME, slots: SLOTS, labels: {} });
    expect(reply.json.tasks.map((task: { name: string }) => task.name)).toEqual(EXAMPLE_TASKS);
    expect(reply.json.workflows).toEqual([
      {
        name: 'order',
        tasks: [
          { task: 'fetchOrder', parents: [] },
          { task: 'priceOrder', parents: ['fetchOrder'] },
          { task: 'reserveStock', parents: ['fetchOrder'] },
          { task: 'invoiceOrder', parents: ['priceOrder', 'reserveStock'] },
        ],
      },
    ]);
    const echo = reply.json.tasks.find((task: { name: string }) => task.name === 'echo');
    expect(echo.inputSchema).toMatchObject({ type: 'object', properties: { message: { type: 'string' } } });
    const unsigned = await c.get('/');
    expect(unsigned.status).toBe(401);
    expect(unsigned.json.error.code).toBe('bad_signature');
  });

  it('answers an unknown route with 404 (not_found, unless the parent app owns the path space)', async () => {
    const reply = await c.get('/nope');
    expect(reply.status).toBe(404);
    if (factory.parentOwnsUnknownRoutes) expect(reply.text).toBe('404 Not Found');
    else expect(reply.json.error.code).toBe('not_found');
  });

  engineWorkflowScenario(factory, () => engine.start());

  engineDurableScenario(factory, () => engine.start());

  hatchetScenarios({ target: () => t, needing, drainEvents, idle });
});

describe('the Cloudflare bundle (wrangler deploy --dry-run)', () => {
  it('builds from wrangler.toml with no Node built-ins in it', async () => {
    const { code } = await bundleCloudflareExample();
    const imported = [...code.matchAll(/(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']([^"']+)["']/g)].map(
      (m) => m[1]!,
    );
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    expect(imported.filter((name) => builtins.has(name) || name.startsWith('node:'))).toEqual([]);
    expect(code).toContain('ReplayGuard');
  });
});
