import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { task } from '../../src/index.ts';
import { API_TOKEN, type Harness, harnessPerTest, job, until, untilStopped } from '../support/engine.ts';
import { storeTargets } from './support/postgres.ts';

/** The longest window: the runs of a test all fall in one, whenever it runs. */
const LONG = 2 ** 31 - 1;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe.each(storeTargets('pw_flow_control'))(
  'rate limits and concurrency strategies on $name',
  ({ open }) => {
    const harness = harnessPerTest(open);
    let h: Harness;
    const put = (path: string, body: unknown) =>
      fetch(`${h.url}${path}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));

    it('refuses bad limits, strategies and keys with their codes', async () => {
      h = await harness.start();
      const tenantLimited = task({
        name: 'per-tenant',
        input: z.object({ tenant: z.string().optional() }),
        rateLimits: [{ key: 'tenant:{input.tenant}', limit: 2, per: 'minute' }],
        run: () => null,
      });
      await h.addWorker('w', { tasks: [tenantLimited] });

      expect(await codeOf(h.client.enqueue({ task: 'per-tenant', input: {} }))).toBe('unresolved_key');
      expect(
        await codeOf(
          h.client.enqueueMany([{ task: 'per-tenant', input: { tenant: 'a' } }, { task: 'per-tenant' }]),
        ),
      ).toBe('unresolved_key');
      expect(await codeOf(h.client.enqueue({ task: 'echo', rateLimitKeys: ['nobody-set-this'] }))).toBe(
        'unknown_rate_limit',
      );
      expect(
        await codeOf(
          h.client.enqueue({
            task: 'echo',
            concurrency: { key: 'k', limit: 1, strategy: 'DROP_OLDEST' as 'CANCEL_NEWEST' },
          }),
        ),
      ).toBe('invalid_request');
      expect(await codeOf(h.client.enqueue({ task: 'echo', rateLimitKeys: [{ key: '', units: 1 }] }))).toBe(
        'invalid_request',
      );
      expect(await codeOf(h.client.setRateLimit('k', { limit: 0, per: 'minute' }))).toBe('invalid_request');
      expect(await codeOf(h.client.setRateLimit('k', { limit: 1, per: 'week' as 'day' }))).toBe(
        'invalid_request',
      );
      expect(
        (await put(`/v1/rate-limits/${'x'.repeat(201)}`, { limit: 1, per: 'second' })).body.error.code,
      ).toBe('invalid_request');
      expect(await h.client.rateLimits()).toEqual([]);

      // A manifest whose key template has a stray brace is refused at registration.
      const { token } = await h.engine.createToken('worker', 'bad');
      const registered = await h.asWorker(token).register({
        name: 'bad',
        url: 'http://127.0.0.1:9/bad',
        slots: 1,
        labels: {},
        tasks: [
          {
            name: 't',
            inputSchema: {},
            timeoutMs: 1000,
            retries: 0,
            slotCost: 1,
            rateLimits: [{ key: 'tenant:{input.tenant', limit: 1, per: 'second' }],
          },
        ],
      });
      expect(registered.status).toBe(400);
      expect(registered.body.error.code).toBe('invalid_request');
      // And by task() itself, before any of it reaches the engine.
      expect(() =>
        task({ name: 'x', input: z.unknown(), concurrency: { key: '{oops}', limit: 1 }, run: () => null }),
      ).toThrow(/placeholders/);
    });

    it('holds runs to a declared limit, says so, and starts the rest once the limit is raised through the API', async () => {
      h = await harness.start();
      const limited = task({
        name: 'limited',
        input: z.object({ n: z.number() }),
        rateLimits: [{ key: 'mail', limit: 2, per: LONG }],
        run: ({ n }) => n,
      });
      await h.addWorker('w', { tasks: [limited] });
      const runs = await h.client.enqueueMany(
        Array.from({ length: 5 }, (_, n) => ({ task: 'limited', input: { n } })),
      );
      const completed = async () => (await h.client.listRuns({ state: 'COMPLETED' })).runs.length;
      await until(async () => (await completed()) === 2, 'two runs to complete');
      const [limit] = await h.client.rateLimits();
      expect(limit).toMatchObject({ key: 'mail', limit: 2, perMs: LONG, window: { used: 2 } });
      const waiting = await h.client.getRun(runs[2]!.id);
      expect(waiting.state).toBe('QUEUED');
      expect(waiting.waitingFor).toBe(`rate limited on mail until ${limit!.window.end}`);
      // The autoscaler's figure leaves out what a rate limit holds back: more workers would not start it sooner.
      expect((await h.client.taskStats()).find((s) => s.task === 'limited')).toMatchObject({
        queued: 3,
        ready: 0,
      });

      const set = await h.client.setRateLimit('mail', { limit: 5, per: LONG });
      expect(set).toMatchObject({ limit: 5, override: { limit: 5, perMs: LONG }, declared: { limit: 2 } });
      await until(async () => (await completed()) === 5, 'the rest to complete under the raised limit');
    });

    it('starts a held run when its window ends, without waiting for the poll', async () => {
      // A poll far longer than the test: only the window's end can start the held runs in time.
      h = await harness.start({ pollIntervalMs: 600_000 });
      await h.addWorker('w');
      await h.client.setRateLimit('per-window', { limit: 1, per: 1_000 });
      const runs = await h.client.enqueueMany(
        [1, 2, 3].map((n) => ({ task: 'echo', input: n, rateLimitKeys: ['per-window'] })),
      );
      for (const run of runs) {
        const done = await h.client.waitRun(run.id, { timeoutMs: 30_000 });
        expect(done.state).toBe('COMPLETED');
      }
      const views = await Promise.all(runs.map((r) => h.client.getRun(r.id)));
      const assigned = views.map((v) => Date.parse(v.attempts[0]!.assignedAt!));
      // One assignment per window of 1 s: no two in the same window.
      expect(new Set(assigned.map((t) => Math.floor(t / 1_000))).size).toBe(3);
    });

    it('holds an enqueue to a limit it names, set through the API, with its units', async () => {
      h = await harness.start();
      await h.addWorker('w');
      await h.client.setRateLimit('partner:acme/eu', { limit: 3, per: LONG });
      const runs = await h.client.enqueueMany([
        { task: 'echo', input: 1, rateLimitKeys: [{ key: 'partner:acme/eu', units: 2 }] },
        { task: 'echo', input: 2, rateLimitKeys: ['partner:acme/eu'] },
        { task: 'echo', input: 3, rateLimitKeys: ['partner:acme/eu'] },
      ]);
      await until(
        async () => (await h.client.listRuns({ state: 'COMPLETED' })).runs.length === 2,
        'two runs',
      );
      expect((await h.client.getRun(runs[2]!.id)).waitingFor).toMatch(
        /^rate limited on partner:acme\/eu until /,
      );
      expect((await h.client.rateLimits())[0]).toMatchObject({ key: 'partner:acme/eu', window: { used: 3 } });
    });

    it('says why each queued run of a list waits: a full concurrency key, a rate limit, no worker', async () => {
      h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
      const worker = await h.addWorker('w', { tasks: [job('hold', untilStopped)] });
      await h.client.setRateLimit('quota', { limit: 1, per: LONG });
      const concurrency = { key: 'doc-7', limit: 1 };
      const first = await h.client.enqueue({ task: 'hold', concurrency });
      await until(() => worker.started.some((s) => s.runId === first.id), 'the first run to start');
      const [keyed] = await h.client.enqueueMany([{ task: 'hold', concurrency }]);
      const limitedFirst = await h.client.enqueue({ task: 'hold', rateLimitKeys: ['quota'] });
      await until(() => worker.started.some((s) => s.runId === limitedFirst.id), 'the quota to be used');
      const limited = await h.client.enqueue({ task: 'hold', rateLimitKeys: ['quota'] });
      const unserved = await h.client.enqueue({ task: 'nobody-serves-this' });

      const expected = {
        [keyed!.id]: 'a place under concurrency key doc-7 (1 of 1 in use)',
        [limited.id]: expect.stringMatching(/^rate limited on quota until /),
        [unserved.id]: 'a worker that serves this task (none is ACTIVE)',
      };
      const listed = await until(async () => {
        const { runs } = await h.client.listRuns({ state: 'QUEUED' });
        return runs.length === 3 ? runs : undefined;
      }, 'three queued runs');
      expect(Object.fromEntries(listed.map((r) => [r.id, r.waitingFor]))).toEqual(expected);
      for (const [id, why] of Object.entries(expected))
        expect((await h.client.getRun(id)).waitingFor).toEqual(why);
    });

    it('CANCEL_IN_PROGRESS stops the running run of the key on its worker and starts the new one', async () => {
      // Leases long enough that a busy machine does not re-queue the first run before the second comes.
      h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
      const worker = await h.addWorker('w', { tasks: [job('hold', untilStopped)] });
      const concurrency = { key: 'doc-1', limit: 1, strategy: 'CANCEL_IN_PROGRESS' as const };
      const first = await h.client.enqueue({ task: 'hold', concurrency });
      await until(() => worker.started.some((s) => s.runId === first.id), 'the first run to start');
      const second = await h.client.enqueue({ task: 'hold', concurrency });
      expect(second.state).toBe('QUEUED');
      // Told by the cancel push, or by the engine answering the run's started event `stale` when the cancel
      // came before that event was applied, whichever comes first.
      await until(
        () =>
          worker.aborted.some(
            (a) => a.runId === first.id && (a.reason === 'Cancelled' || a.reason === 'Stale'),
          ),
        'the worker to stop the first run',
        { detail: () => ({ logs: h.logs, started: worker.started, aborted: worker.aborted }) },
      );
      const cancelled = await h.client.getRun(first.id);
      expect(cancelled.state).toBe('CANCELLED');
      expect(cancelled.error?.message).toContain('CANCEL_IN_PROGRESS');
      await until(() => worker.started.some((s) => s.runId === second.id), 'the second run to start');
    });

    it('CANCEL_NEWEST answers the run over the limit cancelled, as declared on the task with a key from the input', async () => {
      h = await harness.start({ leaseMs: 60_000, workerTimeoutMs: 60_000 });
      const perUser = task({
        name: 'sync-user',
        input: z.object({ user: z.string() }),
        concurrency: { key: 'user:{input.user}', limit: 1, strategy: 'CANCEL_NEWEST' },
        run: untilStopped,
      });
      const worker = await h.addWorker('w', { tasks: [perUser] });
      const first = await h.client.enqueue({ task: 'sync-user', input: { user: 'ann' } });
      const second = await h.client.enqueue({ task: 'sync-user', input: { user: 'ann' } });
      const other = await h.client.enqueue({ task: 'sync-user', input: { user: 'bob' } });
      expect(second.state).toBe('CANCELLED');
      expect(second.error?.message).toContain('user:ann');
      expect(other.state).toBe('QUEUED');
      await until(
        () => [first.id, other.id].every((id) => worker.started.some((s) => s.runId === id)),
        'the first runs of each user to start',
      );
      expect(worker.started.some((s) => s.runId === second.id)).toBe(false);
    });
  },
);
