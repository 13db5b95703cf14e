import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFromEnv, task, workflow } from '../../src/index.ts';
import { actionIdOf } from '../../src/worker/hatchet.ts';
import { assignedAction, HATCHET_SECRET, hatchetPost } from '../support/hatchet.ts';
import { until } from '../support/until.ts';
import { type Harness, startHarness } from '../support/worker.ts';

describe("Hatchet's HTTP operator protocol", () => {
  let h: Harness;
  let health: string;
  let trigger: string;
  const now = () => Math.floor(Date.now() / 1000);
  beforeAll(async () => {
    h = await startHarness({ hatchet: { signingSecret: HATCHET_SECRET } });
    health = `${h.url}/hatchet/health`;
    trigger = `${h.url}/hatchet/trigger`;
  });
  afterAll(() => h.close());

  it('answers the signed health check with the action ids of its tasks', async () => {
    const res = await hatchetPost(health, '{}', { timestamp: now() });
    expect(res.status).toBe(200);
    expect(res.json.actions).toEqual(expect.arrayContaining(['echo:echo', 'sleep:sleep', 'fail:fail']));
  });

  it('runs a triggered task and answers with its output as the JSON body', async () => {
    const action = assignedAction('echo', 'echo', { message: 'from hatchet' });
    const res = await hatchetPost(trigger, JSON.stringify(action), { timestamp: now() });
    expect(res).toEqual({ status: 200, json: { message: 'from hatchet' } });
    expect(h.probe.ran).toContain(action.taskRunExternalId);
    // The operator reports progress itself: nothing is posted to a pushworker engine.
    expect(h.sink.of(action.taskRunExternalId)).toEqual([]);
  });

  it('answers a failing task with a non-2xx JSON error that says whether it is retryable', async () => {
    const retryable = await hatchetPost(
      trigger,
      JSON.stringify(assignedAction('fail', 'fail', { retryable: true })),
    );
    expect(retryable.status).toBe(500);
    expect(retryable.json.error).toMatchObject({
      code: 'task_failed',
      details: { name: 'Error', message: 'boom', retryable: true },
    });
    const final = await hatchetPost(
      trigger,
      JSON.stringify(assignedAction('fail', 'fail', { retryable: false })),
    );
    expect(final.status).toBe(422);
    expect(final.json.error).toMatchObject({
      code: 'task_failed_final',
      details: { name: 'NonRetryableError', retryable: false },
    });
  });

  it('refuses, running nothing: invalid input, unknown action, bad signature, stale timestamp', async () => {
    const invalid = assignedAction('echo', 'echo', { message: 7 });
    const res = await hatchetPost(trigger, JSON.stringify(invalid));
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'invalid_input', details: [{ path: ['message'] }] });

    const unknown = assignedAction('other', 'nope', {});
    expect((await hatchetPost(trigger, JSON.stringify(unknown))).json.error.code).toBe('unknown_action');
    expect((await hatchetPost(trigger, JSON.stringify(unknown))).status).toBe(404);

    const forged = assignedAction('echo', 'echo', { message: 'x' });
    const bad = await hatchetPost(trigger, JSON.stringify(forged), {
      secret: 'another-secret-another-secret-xx',
    });
    expect(bad).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
    const missing = await fetch(trigger, { method: 'POST', body: JSON.stringify(forged) });
    expect(missing.status).toBe(401);

    const stale = assignedAction('echo', 'echo', { message: 'old' });
    const old = await hatchetPost(trigger, JSON.stringify(stale), { timestamp: now() - 3600 });
    expect(old).toMatchObject({ status: 401, json: { error: { code: 'expired' } } });

    const garbage = await hatchetPost(trigger, '{"actionId":');
    expect(garbage).toMatchObject({ status: 400, json: { error: { code: 'invalid_request' } } });
    for (const a of [invalid, unknown, forged, stale]) expect(h.probe.ran).not.toContain(a.taskRunExternalId);
  });

  it('stops the task when Hatchet aborts the request', async () => {
    const action = assignedAction('sleep', 'sleep', { ms: 10_000 });
    const controller = new AbortController();
    const pending = hatchetPost(trigger, JSON.stringify(action), { signal: controller.signal }).catch(
      (e) => e,
    );
    await until(() => h.probe.ran.includes(action.taskRunExternalId), 'the task to start', {
      timeoutMs: 5_000,
      everyMs: 10,
    });
    controller.abort();
    await pending;
    await until(() => h.probe.aborts.length > 0, 'the task to be aborted', { timeoutMs: 5_000, everyMs: 10 });
    expect(h.probe.aborts).toContain('Cancelled');
    expect(h.worker.health().slots.used).toBe(0);
  });

  it('refuses a request without X-Hatchet-Timestamp when the timestamp is required, and runs nothing', async () => {
    const strict = await startHarness({ hatchet: { signingSecret: HATCHET_SECRET, requireTimestamp: true } });
    try {
      const action = assignedAction('echo', 'echo', { message: 'no timestamp' });
      const refused = await hatchetPost(`${strict.url}/hatchet/trigger`, JSON.stringify(action));
      expect(refused).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
      expect(strict.probe.ran).toEqual([]);
      const stamped = await hatchetPost(`${strict.url}/hatchet/trigger`, JSON.stringify(action), {
        timestamp: now(),
      });
      expect(stamped).toEqual({ status: 200, json: { message: 'no timestamp' } });
    } finally {
      await strict.close();
    }
  });

  it('reads HATCHET_REQUIRE_TIMESTAMP', () => {
    const env = { HATCHET_SIGNING_SECRET: HATCHET_SECRET, HATCHET_REQUIRE_TIMESTAMP: 'true' };
    expect(configFromEnv(env).hatchet).toMatchObject({ requireTimestamp: true });
    expect(configFromEnv({ HATCHET_SIGNING_SECRET: HATCHET_SECRET }).hatchet).toMatchObject({
      requireTimestamp: false,
    });
  });

  it("serves a workflow's tasks under its name, and hands a DAG task its parents' outputs from the trigger", async () => {
    const resize = task({
      name: 'Resize',
      input: z.object({ url: z.string() }),
      run: (i) => ({ small: `${i.url}?w=64` }),
    });
    const publish = task({
      name: 'Publish',
      input: z.object({ url: z.string() }),
      parents: [resize],
      run: async (_i, ctx) => ({ published: (await ctx.parentOutput(resize)).small, run: ctx.workflowRunId }),
    });
    const images = workflow({ name: 'images', tasks: [resize, publish] });
    const dag = await startHarness({
      hatchet: { signingSecret: HATCHET_SECRET },
      tasks: [],
      workflows: [images],
    });
    try {
      const listed = await hatchetPost(`${dag.url}/hatchet/health`, '{}', { timestamp: now() });
      expect(listed.json.actions).toEqual(['images:resize', 'images:publish']);
      const action = assignedAction('images', 'Publish', { url: 'u' });
      // Hatchet keys parents by the step's readable id, lower-cased.
      action.actionPayload = JSON.stringify({
        input: { url: 'u' },
        parents: { resize: { small: 'u?w=64' } },
      });
      const res = await hatchetPost(`${dag.url}/hatchet/trigger`, JSON.stringify(action), {
        timestamp: now(),
      });
      expect(res).toEqual({ status: 200, json: { published: 'u?w=64', run: action.workflowRunId } });
    } finally {
      await dag.close();
    }
  });

  it('names actions with a workflow name and namespace when configured', () => {
    const t = { name: 'Resize' } as never;
    expect(actionIdOf(t, {})).toBe('Resize:resize');
    expect(actionIdOf(t, { workflowName: 'images', namespace: 'prod_' })).toBe('prod_images:resize');
  });
});
