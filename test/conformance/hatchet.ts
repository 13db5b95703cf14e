// Hatchet's HTTP operator scenarios, written once; conformance.test.ts runs them against every target.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { assignedAction } from '../support/hatchet.ts';
import { until } from '../support/until.ts';
import { counterTotal, hatchetClientOf } from './client.ts';
import { ORDER } from './engine-workflow.ts';
import {
  HATCHET_NAMED,
  type Limitation,
  MAX_BODY_BYTES,
  type Reply,
  SLOTS,
  type Target,
} from './targets/target.ts';

export interface ScenarioContext {
  target(): Target;
  /** A scenario that needs what some runtime cannot give: registered as skipped there, with the reason. */
  needing(limitations: Limitation[], title: string, fn: () => Promise<void>): void;
  /** Resolves once every event raised so far is in the sink. */
  drainEvents(): Promise<void>;
  /** Resolves once no slot is held. */
  idle(): Promise<void>;
}

const ORDER_TASKS = ['fetchOrder', 'priceOrder', 'reserveStock', 'invoiceOrder'];
const STARTED = 'pushworker_runs_started_total';
const FAILED = 'pushworker_runs_failed_total';

export function hatchetScenarios({ target, needing, drainEvents, idle }: ScenarioContext): void {
  describe("Hatchet's HTTP operator", () => {
    let t: Target;
    let h: ReturnType<typeof hatchetClientOf>;
    beforeAll(() => {
      t = target();
      h = hatchetClientOf(t);
    });

    /** An `AssignedAction` for `task` under the target's workflow naming, as the operator posts it. */
    const action = (task: string, input: unknown, extra: Record<string, unknown> = {}) =>
      assignedAction(task, task, input, { actionId: h.actionId(task), ...extra });
    const slotsUsed = async (): Promise<number> =>
      (await t.call({ method: 'GET', path: '/health', headers: {} })).json.slots.used;
    const slotsHeld = (n: number) =>
      until(async () => (await slotsUsed()) === n, `${n} slots to be held`, { everyMs: 10 });

    it('answers the signed health check with the action ids its workflow naming gives', async () => {
      const reply = await h.health();
      expect(reply.status).toBe(200);
      expect(reply.json).toEqual({
        actions: [
          ...ORDER_TASKS.map((task) => h.actionId(task, 'order')),
          ...['echo', 'sleep', 'fail', 'onboardUser'].map((task) => h.actionId(task)),
        ],
      });
    });

    it("runs the order workflow's tasks as Hatchet triggers them, each reading its parents from the payload", async () => {
      const workflowRunId = randomUUID();
      /** Triggers `task` of the order workflow with its parents' outputs, keyed as Hatchet keys them. */
      const step = async (task: string, parents: Record<string, unknown>) => {
        const a = assignedAction('order', task, ORDER, {
          actionId: h.actionId(task, 'order'),
          workflowRunId,
        });
        a.actionPayload = JSON.stringify({ input: ORDER, parents, overrides: {}, triggers: {} });
        const reply = await h.trigger(JSON.stringify(a));
        expect(reply.status).toBe(200);
        return reply.json;
      };
      const fetched = await step('fetchOrder', {});
      const [priced, reserved] = await Promise.all([
        step('priceOrder', { fetchorder: fetched }),
        step('reserveStock', { fetchorder: fetched }),
      ]);
      expect(await step('invoiceOrder', { priceorder: priced, reservestock: reserved })).toEqual({
        invoiceId: 'inv-o-42',
        totalCents: 5880,
        reservationId: 'res-o-42',
        workflowRunId,
      });
    });

    it('runs a triggered task and answers 200 with its output as the JSON body, posting no events', async () => {
      const message = 'from hatchet: héllo ✓ 日本語 🚀';
      const a = action('echo', { message });
      const before = await counterTotal(t, STARTED);
      const reply = await h.trigger(JSON.stringify(a));
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
      expect(reply.json).toEqual({ message });
      expect(await counterTotal(t, STARTED)).toBe(before + 1);
      // Hatchet's operator reports the run itself: nothing reaches the pushworker engine.
      await drainEvents();
      expect(t.sink.of(a.taskRunExternalId)).toEqual([]);
    });

    it('answers a failing task with 500 task_failed, retryable, as a JSON error body', async () => {
      // Without X-Hatchet-Timestamp, as operators before the header send it.
      const reply = await h.trigger(JSON.stringify(action('fail', { message: 'boom' })), { timestamp: null });
      expect(reply.status).toBe(500);
      expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
      expect(reply.json.error).toEqual({
        code: 'task_failed',
        message: 'boom',
        details: {
          name: 'Error',
          message: 'boom',
          retryable: true,
          stack: expect.stringMatching(/^Error: boom\n/),
        },
      });
    });

    it('answers a NonRetryableError with 422 task_failed_final, a status Hatchet does not retry', async () => {
      const reply = await h.trigger(
        JSON.stringify(action('fail', { message: 'bad for good', retryable: false })),
      );
      expect(reply.status).toBe(422);
      expect(reply.json.error).toMatchObject({
        code: 'task_failed_final',
        details: {
          name: 'NonRetryableError',
          message: 'bad for good',
          retryable: false,
          stack: expect.stringMatching(/^NonRetryableError: bad for good\n/),
        },
      });
    });

    it('fails a durable task as SuspendUnsupported (422, not retried) once it would sleep: Hatchet runs durable tasks over its own websocket', async () => {
      const reply = await h.trigger(JSON.stringify(action('onboardUser', { userId: 'u-hatchet' })));
      expect(reply.status).toBe(422);
      expect(reply.json.error).toMatchObject({
        code: 'task_failed_final',
        details: { name: 'SuspendUnsupported', retryable: false },
      });
    });

    it('runs a task run once per retryCount: a redelivery answers 409 conflict, a retry runs', async () => {
      const a = action('echo', { message: 'once' });
      expect((await h.trigger(JSON.stringify(a))).status).toBe(200);
      const before = await counterTotal(t, STARTED);
      const again = await h.trigger(JSON.stringify(a));
      expect(again.status).toBe(409);
      expect(again.json.error.code).toBe('conflict');
      expect(await counterTotal(t, STARTED)).toBe(before);
      const retry = await h.trigger(JSON.stringify({ ...a, retryCount: 1 }));
      expect(retry).toMatchObject({ status: 200, json: { message: 'once' } });
    });

    describe('refuses, running nothing', () => {
      const refused = async (status: number, code: string, send: () => Promise<Reply>) => {
        const before = await counterTotal(t, STARTED);
        const reply = await send();
        expect(reply.status).toBe(status);
        expect(reply.json.error.code).toBe(code);
        expect(await counterTotal(t, STARTED)).toBe(before);
        return reply;
      };
      const echo = () => JSON.stringify(action('echo', { message: 'never' }));

      it('input that does not match the task schema (422 invalid_input, with the issues)', async () => {
        const reply = await refused(422, 'invalid_input', () =>
          h.trigger(JSON.stringify(action('echo', { message: 7 }))),
        );
        expect(reply.json.error.details).toMatchObject([{ path: ['message'], code: 'invalid_type' }]);
      });

      it('an action this endpoint does not serve (404 unknown_action)', async () => {
        const nope = action('echo', {}, { actionId: h.actionId('nope') });
        await refused(404, 'unknown_action', () => h.trigger(JSON.stringify(nope)));
      });

      it("a task's action id under another workflow naming (404 unknown_action)", async () => {
        const named = `${HATCHET_NAMED.namespace}${HATCHET_NAMED.workflowName}:echo`;
        const other = h.actionId('echo') === 'echo:echo' ? named : 'echo:echo';
        const a = action('echo', { message: 'never' }, { actionId: other });
        await refused(404, 'unknown_action', () => h.trigger(JSON.stringify(a)));
      });

      it('a trigger signed with another secret (401 bad_signature)', () =>
        refused(401, 'bad_signature', () =>
          h.trigger(echo(), { secret: 'another-signing-secret-of-32-chars-or-more' }),
        ));

      it('a trigger without X-Hatchet-Signature (401 bad_signature)', () =>
        refused(401, 'bad_signature', () => h.trigger(echo(), { unsigned: true })));

      it('a body changed after signing (401 bad_signature)', () =>
        refused(401, 'bad_signature', () => {
          const body = echo();
          return h.trigger(body.replace('never', 'nevr'), { signedBody: body });
        }));

      it('an unsigned health check (401 bad_signature)', () =>
        refused(401, 'bad_signature', () => h.health({ unsigned: true })));

      it('an X-Hatchet-Timestamp outside the window, past or future (401 expired)', async () => {
        const now = Math.floor(Date.now() / 1000);
        await refused(401, 'expired', () => h.trigger(echo(), { timestamp: now - 3_600 }));
        await refused(401, 'expired', () => h.trigger(echo(), { timestamp: now + 3_600 }));
      });

      it('malformed JSON (400 invalid_request)', () =>
        refused(400, 'invalid_request', () => h.trigger(echo().slice(0, -1))));

      it('JSON that is not an AssignedAction (400 invalid_request)', () =>
        refused(400, 'invalid_request', () => {
          const { actionId: _, ...rest } = action('echo', { message: 'never' });
          return h.trigger(JSON.stringify(rest));
        }));

      it('an actionPayload that is not a JSON string with input (400 invalid_request)', () =>
        refused(400, 'invalid_request', () =>
          h.trigger(JSON.stringify(action('echo', {}, { actionPayload: '{"input":' }))),
        ));

      it('a body over the limit (413 too_large)', () =>
        refused(413, 'too_large', () =>
          h.trigger(JSON.stringify(action('echo', { message: 'x'.repeat(MAX_BODY_BYTES + 1) }))),
        ));
    });

    needing(
      ['client-abort'],
      'stops the task when Hatchet aborts the request: its signal fires and its slot is free again',
      async () => {
        await idle();
        const failed = await counterTotal(t, FAILED);
        const controller = new AbortController();
        const a = action('sleep', { ms: 600_000 });
        const answer = h.trigger(JSON.stringify(a), { signal: controller.signal }).then(
          (reply) => `answered ${reply.status}`,
          () => 'aborted',
        );
        await slotsHeld(1);
        controller.abort();
        expect(await answer).toBe('aborted');
        // The sleep task only returns before its ten minutes when its signal fires.
        await idle();
        expect(await counterTotal(t, FAILED)).toBe(failed + 1);
      },
    );

    needing(
      ['concurrent-requests', 'client-abort'],
      'answers 429 no_slot with Retry-After while running tasks hold every slot',
      async () => {
        await idle();
        const controller = new AbortController();
        const holding = Array.from({ length: SLOTS }, () =>
          h
            .trigger(JSON.stringify(action('sleep', { ms: 600_000 })), { signal: controller.signal })
            .catch(() => undefined),
        );
        await slotsHeld(SLOTS);
        const before = await counterTotal(t, STARTED);
        const reply = await h.trigger(JSON.stringify(action('echo', { message: 'no room' })));
        expect(reply.status).toBe(429);
        expect(reply.json.error.code).toBe('no_slot');
        expect(reply.headers.get('retry-after')).toBeTruthy();
        expect(await counterTotal(t, STARTED)).toBe(before);
        controller.abort();
        await Promise.all(holding);
        await idle();
      },
    );
  });
}
