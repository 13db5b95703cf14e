// nodeFetch against a server on loopback: what a worker's calls to the engine need of fetch.
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ENGINE_ANSWER_BYTES, readJsonAnswer } from '../../src/http/answer.ts';
import { nodeFetch } from '../../src/node/fetch.ts';
import { closeServer, listen } from '../support/sink.ts';

describe('nodeFetch', () => {
  let base: string;
  let close: () => Promise<void>;
  /** Bytes the endless answer has handed to its stream so far. */
  let endlessSent = 0;
  let endlessCancelled = false;
  beforeAll(async () => {
    const app = new Hono()
      .put('/echo', async (c) =>
        c.json({ method: c.req.method, auth: c.req.header('authorization'), body: await c.req.json() }, 201),
      )
      .get('/empty', (c) => c.body(null, 204))
      .delete('/header', (c) => c.text(`${c.req.method} ${c.req.header('x-a')}`))
      .get('/cookies', (c) => {
        c.header('set-cookie', 'a=1', { append: true });
        c.header('set-cookie', 'b=2', { append: true });
        return c.text('two cookies', 429, { 'retry-after': '3' });
      })
      .get('/slow', () => new Promise<Response>(() => {}))
      .get('/endless', () => {
        const chunk = new Uint8Array(64 * 1024).fill(0x20);
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            endlessSent += chunk.byteLength;
            controller.enqueue(chunk);
          },
          cancel() {
            endlessCancelled = true;
          },
        });
        return new Response(body, { headers: { 'content-type': 'application/json' } });
      });
    const { server, port } = await listen(app.fetch);
    base = `http://127.0.0.1:${port}`;
    close = () => closeServer(server);
  });
  afterAll(() => close());

  it('sends the method, headers and body, and answers with status, headers and JSON', async () => {
    const res = await nodeFetch(`${base}/echo`, {
      method: 'PUT',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: JSON.stringify({ é: 1 }),
    });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ method: 'PUT', auth: 'Bearer t', body: { é: 1 } });
  });

  it('answers a 204 with no body, and keeps repeated and error-status headers', async () => {
    const empty = await nodeFetch(new Request(`${base}/empty`));
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    const cookies = await nodeFetch(`${base}/cookies`);
    expect(cookies.status).toBe(429);
    expect(cookies.ok).toBe(false);
    expect(cookies.headers.get('retry-after')).toBe('3');
    expect(cookies.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await cookies.text()).toBe('two cookies');
  });

  it("takes a Request's URL, method and headers, and refuses one with a body rather than drop it", async () => {
    const res = await nodeFetch(new Request(`${base}/header`, { method: 'DELETE', headers: { 'x-a': '1' } }));
    expect(await res.text()).toBe('DELETE 1');
    const withBody = new Request(`${base}/echo`, { method: 'PUT', body: '{}' });
    await expect(nodeFetch(withBody)).rejects.toThrow(TypeError);
  });

  it('reads an endless answer only past its limit, and closes it there', async () => {
    const res = await nodeFetch(`${base}/endless`);
    expect(res.status).toBe(200);
    expect(await readJsonAnswer(res)).toBeUndefined();
    const deadline = Date.now() + 5_000;
    while (!endlessCancelled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(endlessCancelled).toBe(true);
    // what the socket and the stream's queue hold beyond the limit, not the endless rest
    expect(endlessSent).toBeLessThan(MAX_ENGINE_ANSWER_BYTES + 8 * 1024 * 1024);
  });

  it('rejects when its signal aborts, as fetch does', async () => {
    const controller = new AbortController();
    const pending = nodeFetch(`${base}/slow`, { signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(pending).rejects.toThrow();
  });
});
