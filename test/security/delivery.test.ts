import type { JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { importSigningKey, signPush } from '../../src/auth/index.ts';
import { liveKeys } from '../../src/engine/store/secrets.ts';
import { type PushBody, SIGNATURE_HEADER } from '../../src/protocol/index.ts';
import { type Harness, harnessPerTest, until } from '../support/engine.ts';
import { closeServer, listen } from '../support/sink.ts';

const stacks = harnessPerTest();
let stack: Harness | undefined;

/** Signs `body` with the engine's current private key, as the engine itself would. */
async function engineSign(audience: string, body: string): Promise<string> {
  const [key] = (await liveKeys(stacks.sql, Date.now())).filter((k) => k.retiredAt === null);
  return signPush({
    key: await importSigningKey(key!.privateJwk as JWK),
    issuer: 'pushworker-engine',
    audience,
    body,
  });
}

describe('duplicate delivery to a real worker', () => {
  it('runs the body once when the engine delivers the same assignment again, and refuses a replayed push', async () => {
    stack = await stacks.start();
    const worker = await stack.addWorker('dup-worker');
    const run = await stack.client.enqueue({ task: 'echo', input: { message: 'once' } });
    expect((await stack.client.waitRun(run.id, { timeoutMs: 15_000 })).state).toBe('COMPLETED');
    const assignment = {
      runId: run.id,
      attempt: 1,
      task: 'echo',
      input: { message: 'once' },
      eventsUrl: `${stack.served.url}/v1/events`,
    };
    const body = JSON.stringify({ v: 1, assignments: [assignment] });
    const post = async (signature: string) => {
      const res = await fetch(worker.url, {
        method: 'POST',
        headers: { [SIGNATURE_HEADER]: signature },
        body,
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    // The same assignment re-sent with a fresh signature (an engine retry): refused as a duplicate.
    const resent = await post(await engineSign('dup-worker', body));
    expect(resent).toMatchObject({
      status: 202,
      json: { accepted: [], rejected: [{ runId: run.id, reason: 'duplicate' }] },
    });
    // The very same request delivered twice: the second is a replay.
    const signature = await engineSign('dup-worker', body);
    expect((await post(signature)).status).toBe(202);
    expect(await post(signature)).toMatchObject({ status: 401, json: { error: { code: 'replay' } } });
    expect(worker.started.filter((s) => s.runId === run.id && s.attempt === 1)).toHaveLength(1);
    expect((await stack.client.getRun(run.id)).output).toEqual({ message: 'once' });
  });

  it('runs the body once when two copies of one assignment arrive at the same time', async () => {
    stack = await stacks.start();
    const worker = await stack.addWorker('race-worker');
    const runId = `race-${crypto.randomUUID()}`;
    const body = JSON.stringify({
      v: 1,
      assignments: [{ runId, attempt: 1, task: 'sleep', input: { ms: 50 } }],
    });
    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const signature = await engineSign('race-worker', body);
        const res = await fetch(worker.url, {
          method: 'POST',
          headers: { [SIGNATURE_HEADER]: signature },
          body,
        });
        return (await res.json()) as { accepted: unknown[]; rejected: { reason: string }[] };
      }),
    );
    expect(answers.flatMap((a) => a.accepted)).toHaveLength(1);
    expect(answers.flatMap((a) => a.rejected.map((r) => r.reason))).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    // Once the copy taken has run, nothing is left that could still start.
    await until(() => worker.worker.health().slots.used === 0, 'the copy taken to finish');
    expect(worker.started.filter((s) => s.runId === runId && s.attempt === 1)).toHaveLength(1);
  });
});

describe('events twice, late, or after cancellation', () => {
  // A worker played by hand: it takes every push (202) without running anything, and sends the events the test
  // chooses, in the order the test chooses.
  async function manualWorker(s: Harness) {
    const pushes: PushBody[] = [];
    const listener = await listen(async (req) => {
      const push = JSON.parse(await req.text()) as PushBody;
      pushes.push(push);
      if ('cancel' in push) return Response.json({ cancelled: push.cancel, unknown: [] });
      return Response.json(
        { accepted: push.assignments.map(({ runId, attempt }) => ({ runId, attempt })), rejected: [] },
        { status: 202 },
      );
    });
    const { token } = await s.engine.createToken('worker', 'manual');
    const call = (method: string, path: string, body: unknown) =>
      fetch(`${s.served.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<any>);
    const { workerId } = await call('PUT', '/v1/workers', {
      name: 'manual',
      url: `http://127.0.0.1:${listener.port}/`,
      slots: 10,
      tasks: [{ name: 'echo', inputSchema: {}, timeoutMs: 60_000, retries: 2, slotCost: 1 }],
    });
    const beat = setInterval(
      () => void call('POST', `/v1/workers/${workerId}/heartbeat`, {}).catch(() => {}),
      200,
    );
    const event = async (runId: string, attempt: number, type: string, extra: Record<string, unknown> = {}) =>
      (
        await call('POST', '/v1/events', {
          events: [{ runId, attempt, type, at: new Date().toISOString(), ...extra }],
        })
      ).results[0] as string;
    const pushedAttempt = (runId: string, attempt: number) =>
      until(
        () =>
          pushes.some(
            (p) =>
              'assignments' in p && p.assignments.some((a) => a.runId === runId && a.attempt === attempt),
          ),
        `${runId}#${attempt} pushed`,
      );
    return {
      pushes,
      event,
      pushedAttempt,
      async close() {
        clearInterval(beat);
        await closeServer(listener.server);
      },
    };
  }

  it('records a result once: a repeated completed event is idempotent and a late contrary one changes nothing', async () => {
    stack = await stacks.start();
    const m = await manualWorker(stack);
    const run = await stack.client.enqueue({ task: 'echo', input: {} });
    await m.pushedAttempt(run.id, 1);
    expect(await m.event(run.id, 1, 'started')).toBe('ok');
    expect(await m.event(run.id, 1, 'completed', { output: { n: 1 } })).toBe('ok');
    const first = await stack.client.getRun(run.id);
    expect(await m.event(run.id, 1, 'completed', { output: { n: 2 } })).toBe('ok');
    expect(
      await m.event(run.id, 1, 'failed', { error: { message: 'late', name: 'Error', retryable: true } }),
    ).toBe('ok');
    const after = await stack.client.getRun(run.id);
    expect(after).toMatchObject({ state: 'COMPLETED', attempt: 1, output: { n: 1 } });
    expect(after.finishedAt).toBe(first.finishedAt);
    await m.close();
  });

  it('answers stale to a superseded attempt, before and after the current one finishes, and keeps the current result', async () => {
    stack = await stacks.start();
    const m = await manualWorker(stack);
    const run = await stack.client.enqueue({ task: 'echo', input: {} });
    await m.pushedAttempt(run.id, 1);
    expect(await m.event(run.id, 1, 'started')).toBe('ok');
    // No heartbeats for attempt 1: its lease (1.5 s) runs out and the engine pushes attempt 2.
    await m.pushedAttempt(run.id, 2);
    expect(await m.event(run.id, 1, 'heartbeat')).toBe('stale');
    expect(await m.event(run.id, 1, 'completed', { output: { from: 1 } })).toBe('stale');
    expect((await stack.client.getRun(run.id)).state).not.toBe('COMPLETED');
    expect(await m.event(run.id, 2, 'started')).toBe('ok');
    expect(await m.event(run.id, 2, 'completed', { output: { from: 2 } })).toBe('ok');
    expect(await m.event(run.id, 1, 'completed', { output: { from: 1 } })).toBe('stale');
    expect(
      await m.event(run.id, 1, 'failed', { error: { message: 'x', name: 'Error', retryable: false } }),
    ).toBe('stale');
    expect(await stack.client.getRun(run.id)).toMatchObject({
      state: 'COMPLETED',
      attempt: 2,
      output: { from: 2 },
    });
    await m.close();
  });

  it('keeps a cancelled run cancelled when its result arrives afterwards, and tells the worker to stop', async () => {
    stack = await stacks.start();
    const m = await manualWorker(stack);
    const run = await stack.client.enqueue({ task: 'echo', input: {} });
    await m.pushedAttempt(run.id, 1);
    expect(await m.event(run.id, 1, 'started')).toBe('ok');
    expect((await stack.client.cancel(run.id)).state).toBe('CANCELLED');
    await until(
      () => m.pushes.some((p) => 'cancel' in p && p.cancel.some((c) => c.runId === run.id)),
      'the cancel push',
    );
    expect(await m.event(run.id, 1, 'completed', { output: { late: true } })).toBe('stale');
    const view = await stack.client.getRun(run.id);
    expect(view.state).toBe('CANCELLED');
    expect(view.output).toBeUndefined();
    await m.close();
  });
});
