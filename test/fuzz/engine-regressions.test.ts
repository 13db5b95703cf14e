import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, type Fixture, fingerprint, startFixture } from './engine-fixture.ts';

// Regression tests for the defects the fuzzers found in the engine: each answered 500 before the fix.
let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(() => f?.close());

async function call(method: string, path: string, body?: unknown, token = API_TOKEN) {
  const res = await f.engine.app.fetch(
    new Request(`${f.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    }),
  );
  return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
}

async function refusedWithoutWriting(
  method: string,
  path: string,
  body: unknown,
  codes: string[],
  token?: string,
) {
  const before = await fingerprint(f.sql);
  const res = await call(method, path, body, token);
  expect(await fingerprint(f.sql)).toBe(before);
  expect(codes).toContain(res.json?.error?.code);
}

describe('engine defects found by the fuzzers', () => {
  // Defect E1: a U+0000 character reaching Postgres text or jsonb ("invalid byte sequence", "unsupported Unicode
  // escape sequence") answers 500 internal instead of a 4xx.
  it('E1: answers 404 for a run id with a NUL character (GET /v1/runs/%00)', async () => {
    await refusedWithoutWriting('GET', '/v1/runs/%00', undefined, ['not_found', 'invalid_request']);
  });
  it('E1: answers 400 for a NUL character in an enqueued input', async () => {
    await refusedWithoutWriting('POST', '/v1/runs', { task: 'echo', input: { a: '\u0000' } }, [
      'invalid_request',
    ]);
  });
  it('E1: answers 400 or stale for a NUL character in an event run id', async () => {
    const res = await call(
      'POST',
      '/v1/events',
      { events: [{ runId: 'a\u0000', attempt: 1, type: 'started', at: new Date().toISOString() }] },
      f.tokens.workerA,
    );
    expect(res.status).toBeLessThan(500);
  });

  // Defect E2: an unpaired UTF-16 surrogate (valid in JSON text, invalid in jsonb) answers 500.
  it('E2: answers 400 for an unpaired surrogate in an enqueued input', async () => {
    await refusedWithoutWriting('POST', '/v1/runs', '{"task":"echo","input":{"a":"\\ud800"}}', [
      'invalid_request',
    ]);
  });

  // Defect E3: input nested 100,000 deep overflows JSON.stringify's stack when stored: 500.
  it('E3: answers 400 for an input nested 100,000 levels deep', async () => {
    const deep = `{"task":"echo","input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    await refusedWithoutWriting('POST', '/v1/runs', deep, ['invalid_request', 'too_large']);
  });

  // Defect E4: integers the schemas accept but Postgres `integer` columns cannot hold answer 500.
  it('E4: answers 400 for a timeoutMs beyond a 32-bit integer', async () => {
    await refusedWithoutWriting('POST', '/v1/runs', { task: 'echo', timeoutMs: 1e12 }, ['invalid_request']);
  });
  it('E4: answers 400 for a registration with slots beyond a 32-bit integer', async () => {
    await refusedWithoutWriting(
      'PUT',
      '/v1/workers',
      { name: 'fuzz-a', url: `${f.closedUrl}fuzz-a`, slots: 1e12, tasks: [] },
      ['invalid_request'],
      f.tokens.workerA,
    );
  });

  // Defect E5: the engine API reads bodies of any size into memory (a worker endpoint caps them at 1 MB).
  it('E5: refuses a 20 MB enqueue body with 413 too_large', async () => {
    const body = JSON.stringify({ task: 'echo', input: 'x'.repeat(20 * 1024 * 1024) });
    await refusedWithoutWriting('POST', '/v1/runs', body, ['too_large']);
  }, 60_000);
});
