// A sync answer on a runtime that flushes events after the answer (workerd's waitUntil): the engine ends the attempt
// as it reads the answer, so the steps recorded before it must have reached the engine first, or they would be
// dropped as events of an attempt that is over: missing from the journal, and run again on the next push.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createWorker, task } from '../../src/index.ts';
import { SIGNATURE_HEADER } from '../../src/protocol/schemas.ts';
import { assignment, batch, createPusher } from '../support/push.ts';

const stepThenSleep = task({
  name: 'step-then-sleep',
  input: z.object({}),
  run: async (_input, ctx) => {
    await ctx.step('first', () => 'recorded');
    await ctx.sleep(60_000);
  },
});

const stepThenReturn = task({
  name: 'step-then-return',
  input: z.object({}),
  run: (_input, ctx) => ctx.step('only', () => 'recorded'),
});

describe('a sync worker whose runtime defers work past the answer', () => {
  it.each([
    ['step-then-sleep', 'suspended'],
    ['step-then-return', 'completed'],
  ])('answers %s (%s) only once its steps have reached the engine', async (name, status) => {
    const pusher = await createPusher('sync-edge');
    const delivered: { type: string; name?: string }[] = [];
    // The engine acknowledges events a while after they are sent, as one across a network does.
    const engineFetch: typeof fetch = async (_url, init) => {
      const body = JSON.parse(String(init?.body)) as { events: { type: string; name?: string }[] };
      await new Promise((resolve) => setTimeout(resolve, 100));
      delivered.push(...body.events);
      return Response.json({ results: body.events.map(() => ({ status: 'ok' })) });
    };
    const worker = createWorker({
      name: 'sync-edge',
      mode: 'sync',
      tasks: [stepThenSleep, stepThenReturn],
      keys: { jwks: pusher.jwks },
      engineUrl: 'http://engine.test',
      token: 'worker-token',
      heartbeatMs: 60_000,
      fetch: engineFetch,
    });
    const deferred: Promise<unknown>[] = [];
    const executionCtx = {
      waitUntil: (p: Promise<unknown>) => deferred.push(p),
      passThroughOnException() {},
    };
    const a = assignment(name, {});
    const body = batch(a);
    const response = await worker.fetch(
      new Request('http://worker.test/', {
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: await pusher.sign(body) },
        body,
      }),
      {},
      executionCtx as never,
    );
    const answer = (await response.json()) as { results: { status: string }[] };
    const deliveredByAnswer = delivered.map((e) => e.type);
    await Promise.all(deferred);
    expect(answer.results).toMatchObject([{ runId: a.runId, status }]);
    expect(deliveredByAnswer).toContain('step');
  });
});
