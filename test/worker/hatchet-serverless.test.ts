// Hatchet's newer Serverless Endpoints contract: answer statuses by retryability, the 4 MiB answer cap, the endpoint id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFromEnv, NonRetryableError, task } from '../../src/index.ts';
import { MAX_ANSWER_BYTES } from '../../src/worker/hatchet.ts';
import { assignedAction, HATCHET_SECRET, hatchetHeaders, hatchetPost } from '../support/hatchet.ts';
import { type Harness, startHarness } from '../support/worker.ts';

const ENDPOINT_ID = 'endpoint-1';
const ran: string[] = [];
const tasks = [
  task({
    name: 'fail',
    input: z.object({ retryable: z.boolean() }),
    run: (i) => {
      throw i.retryable ? new Error('try again') : new NonRetryableError('never again');
    },
  }),
  task({
    name: 'output',
    input: z.object({ bytes: z.number().int() }),
    run: (i, c) => {
      ran.push(c.runId);
      return { padding: 'x'.repeat(i.bytes) };
    },
  }),
  task({ name: 'nothing', input: z.unknown(), run: () => undefined }),
  task({ name: 'whoami', input: z.unknown(), run: (_i, c) => c.metadata.hatchet }),
];

describe("Hatchet's Serverless Endpoints contract", () => {
  let h: Harness;
  let trigger: string;
  const now = () => Math.floor(Date.now() / 1000);
  const call = (name: string, input: unknown, options: Parameters<typeof hatchetPost>[2] = {}) =>
    hatchetPost(trigger, JSON.stringify(assignedAction(name, name, input)), { timestamp: now(), ...options });
  beforeAll(async () => {
    h = await startHarness({ tasks, hatchet: { signingSecret: HATCHET_SECRET, endpointId: ENDPOINT_ID } });
    trigger = `${h.url}/hatchet/trigger`;
  });
  afterAll(() => h.close());

  it('answers a NonRetryableError 422 task_failed_final, which Hatchet does not retry', async () => {
    const res = await call('fail', { retryable: false });
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({
      code: 'task_failed_final',
      details: { name: 'NonRetryableError', message: 'never again', retryable: false },
    });
  });

  it('answers a retryable failure 500 task_failed, which Hatchet retries', async () => {
    const res = await call('fail', { retryable: true });
    expect(res.status).toBe(500);
    expect(res.json.error).toMatchObject({
      code: 'task_failed',
      details: { name: 'Error', message: 'try again', retryable: true },
    });
  });

  it('answers 204 with no body when the task returns nothing, 200 with its JSON output otherwise', async () => {
    const empty = await fetchTrigger('nothing', null);
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
    const output = await call('output', { bytes: 3 });
    expect(output).toEqual({ status: 200, json: { padding: 'xxx' } });
  });

  it('fails a task whose output is over 4 MiB instead of sending it', async () => {
    const action = assignedAction('output', 'output', { bytes: MAX_ANSWER_BYTES });
    const res = await hatchetPost(trigger, JSON.stringify(action), { timestamp: now() });
    expect(ran).toContain(action.taskRunExternalId);
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({
      code: 'task_failed_final',
      details: { name: 'OutputTooLarge', retryable: false },
    });
    expect(res.json.error.message).toMatch(/over Hatchet's limit of 4194304/);
    // Just under the cap still goes through: `{"padding":"…"}` adds 14 bytes.
    const fits = await call('output', { bytes: MAX_ANSWER_BYTES - 14 });
    expect(fits.status).toBe(200);
    expect(fits.json.padding.length).toBe(MAX_ANSWER_BYTES - 14);
  });

  it('accepts its own X-Hatchet-Endpoint-Id, hands it to the task, and refuses another or none with 403', async () => {
    const mine = await call('whoami', null);
    expect(mine.status).toBe(200);
    expect(mine.json).toMatchObject({ endpointId: ENDPOINT_ID, actionId: 'whoami:whoami' });

    const other = await call('whoami', null, { headers: { 'x-hatchet-endpoint-id': 'endpoint-2' } });
    expect(other).toMatchObject({ status: 403, json: { error: { code: 'wrong_endpoint' } } });
    const none = await fetchTrigger('whoami', null, { withoutEndpointId: true });
    expect(none.status).toBe(403);
    expect(((await none.json()) as any).error.code).toBe('wrong_endpoint');
  });

  it('refuses a timestamp 6 minutes off either way with 401 expired, and takes one 4 minutes off', async () => {
    for (const off of [-360, 360]) {
      const res = await call('output', { bytes: 1 }, { timestamp: now() + off });
      expect(res).toMatchObject({ status: 401, json: { error: { code: 'expired' } } });
    }
    for (const off of [-240, 240])
      expect((await call('output', { bytes: 1 }, { timestamp: now() + off })).status).toBe(200);
  });

  it('reads HATCHET_ENDPOINT_ID, PUSHWORKER_UNVERIFIED_BODY_TIMEOUT_MS and PUSHWORKER_MAX_UNVERIFIED_BODIES', () => {
    const config = configFromEnv({
      HATCHET_SIGNING_SECRET: HATCHET_SECRET,
      HATCHET_ENDPOINT_ID: ENDPOINT_ID,
      PUSHWORKER_UNVERIFIED_BODY_TIMEOUT_MS: '2500',
      PUSHWORKER_MAX_UNVERIFIED_BODIES: '8',
    });
    expect(config.hatchet).toMatchObject({ endpointId: ENDPOINT_ID });
    expect(config).toMatchObject({ unverifiedBodyTimeoutMs: 2500, maxUnverifiedBodies: 8 });
    expect(() => configFromEnv({ PUSHWORKER_MAX_UNVERIFIED_BODIES: '0' })).toThrow(
      /PUSHWORKER_MAX_UNVERIFIED_BODIES/,
    );
  });

  /** A trigger answered as it is, for answers without a JSON body. */
  function fetchTrigger(name: string, input: unknown, options: { withoutEndpointId?: boolean } = {}) {
    const body = JSON.stringify(assignedAction(name, name, input));
    const headers: Record<string, string> = {
      ...hatchetHeaders(body, { timestamp: now() }),
    };
    if (options.withoutEndpointId) delete headers['x-hatchet-endpoint-id'];
    return fetch(trigger, { method: 'POST', headers, body });
  }
});
