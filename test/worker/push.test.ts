import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/auth/index.ts';
import { SIGNATURE_HEADER } from '../../src/protocol/schemas.ts';
import { assignment, batch } from '../support/push.ts';
import { type Harness, startHarness } from '../support/worker.ts';

describe('push endpoint over a real socket', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ maxBodyBytes: 64 * 1024 });
  });
  afterAll(() => h.close());

  it('accepts a signed push, runs it and reports started and completed with the worker token', async () => {
    const a = assignment('echo', { message: 'hi' });
    const res = await h.pusher.send(h.url, batch(a));
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ accepted: [{ runId: a.runId, attempt: 1 }], rejected: [] });
    await h.sink.waitFor(() => h.sink.of(a.runId, 'completed').length === 1);
    expect(h.sink.of(a.runId).map((e) => e.type)).toEqual(['started', 'completed']);
    expect(h.sink.of(a.runId, 'completed')[0]).toMatchObject({ output: { message: 'hi' } });
    expect(h.sink.authorizations).toContain('Bearer worker-token-secret');
  });

  describe('refuses, running nothing', () => {
    const refused = async (
      status: number,
      code: string,
      send: (body: string) => Promise<{ status: number; json: any }>,
    ) => {
      const a = assignment('echo', { message: 'never' });
      const res = await send(batch(a));
      expect(res.status).toBe(status);
      expect(res.json.error.code).toBe(code);
      // Once a push taken afterwards has run to its end, nothing of the refused one can still come.
      const after = assignment('echo', { message: 'after' });
      expect((await h.pusher.send(h.url, batch(after))).status).toBe(202);
      await h.sink.waitFor(() => h.sink.of(after.runId, 'completed').length === 1);
      expect(h.probe.ran).not.toContain(a.runId);
      expect(h.sink.of(a.runId)).toEqual([]);
    };
    const post = (body: string, headers: Record<string, string>) =>
      fetch(h.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      }).then(async (r) => ({ status: r.status, json: await r.json() }));

    it('a push without a signature (bad_signature)', () => refused(401, 'bad_signature', (b) => post(b, {})));

    it('a push signed by an untrusted key with a trusted kid (bad_signature)', async () => {
      const other = await generateSigningKey('EdDSA', 'test-key');
      await refused(401, 'bad_signature', (b) => h.pusher.send(h.url, b, { key: other.signing }));
    });

    it('an expired push (expired)', () =>
      refused(401, 'expired', (b) => h.pusher.send(h.url, b, { now: Math.floor(Date.now() / 1000) - 400 })));

    it('a push for another worker (wrong_audience)', () =>
      refused(401, 'wrong_audience', (b) => h.pusher.send(h.url, b, { audience: 'someone-else' })));

    it('a tampered body (body_mismatch)', () =>
      refused(401, 'body_mismatch', async (b) =>
        post(b.replace('never', 'nevr'), { [SIGNATURE_HEADER]: await h.pusher.sign(b) }),
      ));

    it('a replayed push (replay)', async () => {
      const a = assignment('echo', { message: 'once' });
      const body = batch(a);
      const signature = await h.pusher.sign(body);
      expect((await post(body, { [SIGNATURE_HEADER]: signature })).status).toBe(202);
      const again = await post(body, { [SIGNATURE_HEADER]: signature });
      expect(again).toMatchObject({ status: 401, json: { error: { code: 'replay' } } });
    });

    it('a push signed with an unknown kid (unknown_key)', async () => {
      const other = await generateSigningKey('EdDSA', 'rotated-away');
      await refused(401, 'unknown_key', (b) => h.pusher.send(h.url, b, { key: other.signing }));
    });

    it('a body over the limit, declared or streamed (too_large)', async () => {
      const big = 'x'.repeat(70 * 1024);
      await refused(413, 'too_large', (b) => h.pusher.send(h.url, b.replace('never', big)));
      await refused(413, 'too_large', async (b) => {
        const body = b.replace('never', big);
        const stream = new Blob([body]).stream();
        const r = await fetch(h.url, {
          method: 'POST',
          headers: { [SIGNATURE_HEADER]: await h.pusher.sign(body) },
          body: stream,
          duplex: 'half',
        } as RequestInit);
        return { status: r.status, json: await r.json() };
      });
    });

    it('malformed JSON (invalid_request)', () =>
      refused(400, 'invalid_request', (b) => h.pusher.send(h.url, b.slice(0, -1))));

    it('a body that is not a push (invalid_request)', async () => {
      await refused(400, 'invalid_request', (b) => h.pusher.send(h.url, b.replace('"v":1', '"v":2')));
      const res = await h.pusher.send(h.url, JSON.stringify({ v: 1, assignments: [{ runId: 'r' }] }));
      expect(res.status).toBe(400);
      expect(res.json.error.details.length).toBeGreaterThan(0);
    });
  });

  it('rejects per assignment: unknown task and invalid input, while running the rest', async () => {
    const good = assignment('echo', { message: 'ok' });
    const unknown = assignment('nope', {});
    const invalid = assignment('echo', { message: 42 });
    const res = await h.pusher.send(h.url, batch(good, unknown, invalid));
    expect(res.status).toBe(202);
    expect(res.json.accepted).toEqual([{ runId: good.runId, attempt: 1 }]);
    expect(res.json.rejected).toMatchObject([
      { runId: unknown.runId, reason: 'unknown_task' },
      {
        runId: invalid.runId,
        reason: 'invalid_input',
        issues: [{ path: ['message'], code: 'invalid_type' }],
      },
    ]);
    await h.sink.waitFor(() => h.sink.of(good.runId, 'completed').length === 1);
    expect(h.probe.ran).not.toContain(invalid.runId);
  });

  it('never runs the same runId and attempt twice', async () => {
    const a = assignment('sleep', { ms: 100 });
    const [first, second] = await Promise.all([
      h.pusher.send(h.url, batch(a)),
      h.pusher.send(h.url, batch(a)),
    ]);
    const reasons = [first, second].flatMap((r) => r.json.rejected.map((x: { reason: string }) => x.reason));
    expect(reasons).toEqual(['duplicate']);
    const inBatch = assignment('echo', { message: 'twice' });
    const res = await h.pusher.send(h.url, batch(inBatch, inBatch));
    expect(res.json.rejected).toMatchObject([{ reason: 'duplicate' }]);
    await h.sink.waitFor(() => h.sink.of(a.runId, 'completed').length === 1);
    // A redelivery after the run finished is still a duplicate.
    expect((await h.pusher.send(h.url, batch(a))).json.rejected).toMatchObject([{ reason: 'duplicate' }]);
    expect(h.probe.ran.filter((id) => id === a.runId)).toHaveLength(1);
    // A new attempt of the same run is a different run.
    expect((await h.pusher.send(h.url, batch({ ...a, attempt: 2 }))).status).toBe(202);
  });

  it('serves a signed manifest with JSON Schemas, and refuses an unsigned one', async () => {
    const res = await h.pusher.send(h.url, undefined);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ name: 'test-worker', slots: 100, labels: {} });
    const echo = res.json.tasks.find((t: { name: string }) => t.name === 'echo');
    expect(echo).toMatchObject({ slotCost: 1, retries: 0, timeoutMs: 60_000 });
    expect(echo.inputSchema).toMatchObject({ type: 'object', properties: { message: { type: 'string' } } });
    expect(res.json.tasks.find((t: { name: string }) => t.name === 'heavy').slotCost).toBe(3);
    const unsigned = await fetch(h.url);
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as any).error.code).toBe('bad_signature');
  });

  it('answers unknown routes with not_found', async () => {
    const res = await fetch(`${h.url}/nope`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.code).toBe('not_found');
  });

  it('counts refused pushes by code in /metrics and reports slots in /health', async () => {
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/pushworker_push_auth_failures_total\{code="replay"\} [1-9]/);
    expect(metrics).toMatch(/pushworker_push_auth_failures_total\{code="wrong_audience"\} [1-9]/);
    expect(metrics).toMatch(/pushworker_runs_completed_total\{task="echo"\} [1-9]/);
    expect(metrics).toContain('pushworker_slots_total 100');
    const health = await (await fetch(`${h.url}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', name: 'test-worker', slots: { total: 100 } });
    expect((health as any).tasks).toContain('echo');
  });

  it('never leaks the worker token or signing material in logs or error bodies', async () => {
    const res = await h.pusher.send(h.url, batch(assignment('echo', { message: 'x' })), {
      audience: 'other',
    });
    expect(JSON.stringify(res.json)).not.toContain('worker-token-secret');
    expect(h.logs.join('\n')).not.toContain('worker-token-secret');
  });
});
