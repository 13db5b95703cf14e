import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { bodyOf, bodyReading, readBodies } from '../../src/http/body.ts';
import { nodeBodyReader } from '../../src/node/body.ts';
import { PushworkerError } from '../../src/protocol/errors.ts';
import { until } from '../support/until.ts';

const LIMIT = 16;
const app = new Hono();
app.onError((error, c) =>
  error instanceof PushworkerError ? c.json(error.toJSON(), error.status as 413) : c.text('bug', 500),
);
app.use(readBodies(LIMIT, () => nodeBodyReader));
app.post('/', (c) => c.json({ body: new TextDecoder().decode(bodyOf(c)) }));

const bytes = (text: string) => new TextEncoder().encode(text);
/** Node's request as @hono/node-server hands it over: a readable stream of the body, with `rawHeaders`. */
const nodeRequest = (chunks: Uint8Array[], extra: object = {}) =>
  Object.assign(Readable.from(chunks, { objectMode: false }), { rawHeaders: [] }, extra);
const post = (env?: object, body: BodyInit | null = 'ignored', headers: Record<string, string> = {}) =>
  app.fetch(new Request('http://worker/', { method: 'POST', body, headers }), env);

describe('request bodies', () => {
  it("reads Node's request, whatever its chunks, and leaves the Web body alone", async () => {
    const incoming = nodeRequest([bytes('{"a":"é'), bytes('"}')]);
    const res = await post({ incoming }, 'the Web body, which must not be read');
    expect(await res.json()).toEqual({ body: '{"a":"é"}' });
  });

  it('refuses a Node request over the limit with too_large and Connection: close, and reads no further', async () => {
    let pulled = 0;
    const incoming = Object.assign(
      new Readable({
        read() {
          pulled++;
          this.push(pulled > 1000 ? null : new Uint8Array(1024));
        },
      }),
      { rawHeaders: [] },
    );
    const res = await post({ incoming });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('too_large');
    expect(incoming.destroyed).toBe(false);
    expect(incoming.isPaused()).toBe(true);
    // Paused, it buffers up to its high-water mark (16 KiB) and then pulls no more of the megabyte offered.
    expect(pulled).toBeLessThan(100);
  });

  it('takes a body a framework read first, and an empty one from a request already read', async () => {
    const rawBody = Buffer.from('{"raw":1}');
    expect(await (await post({ incoming: nodeRequest([], { rawBody }) })).json()).toEqual({
      body: '{"raw":1}',
    });
    const ended = nodeRequest([bytes('gone')]);
    for await (const _ of ended) {
      // a body parser before us consumed it
    }
    expect(await (await post({ incoming: ended })).json()).toEqual({ body: '' });
    const tooBig = nodeRequest([], { rawBody: Buffer.alloc(LIMIT + 1) });
    expect((await post({ incoming: tooBig })).status).toBe(413);
  });

  it('reads the Web body elsewhere, and refuses it over the limit, declared or streamed', async () => {
    expect(await (await post(undefined, 'x'.repeat(LIMIT))).json()).toEqual({ body: 'x'.repeat(LIMIT) });
    const declared = await post(undefined, 'small', { 'content-length': String(LIMIT + 1) });
    expect(declared.status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes('x'.repeat(10)));
        controller.enqueue(bytes('x'.repeat(10)));
        controller.close();
      },
    });
    const streamed = await app.fetch(
      new Request('http://worker/', { method: 'POST', body: stream, duplex: 'half' } as RequestInit),
    );
    expect(streamed.status).toBe(413);
  });

  it('reads nothing for GET', async () => {
    const get = new Hono().use(readBodies(LIMIT)).get('/', (c) => c.json({ n: bodyOf(c).length }));
    const incoming = nodeRequest([bytes('never read')]);
    expect(await (await get.fetch(new Request('http://worker/'), { incoming })).json()).toEqual({ n: 0 });
    expect(incoming.readableFlowing).toBe(null);
  });

  describe('bodies read before they are verified', () => {
    const limited = new Hono();
    limited.onError((error, c) =>
      error instanceof PushworkerError ? c.json(error.toJSON(), error.status as 408) : c.text('bug', 500),
    );
    const bodies = bodyReading(LIMIT, () => nodeBodyReader, { timeoutMs: 100, maxAtOnce: 1 });
    limited.post('/', async (c) => c.json({ n: (await bodies.read(c)).length }));
    const never = () => new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    const streamed = (body: ReadableStream<Uint8Array>) =>
      limited.fetch(new Request('http://worker/', { method: 'POST', body, duplex: 'half' } as RequestInit));

    it('cuts a Web body that does not arrive in time with 408 body_timeout and Connection: close', async () => {
      const res = await streamed(never());
      expect(res.status).toBe(408);
      expect(res.headers.get('connection')).toBe('close');
      expect(((await res.json()) as any).error.code).toBe('body_timeout');
      expect(bodies.reading).toBe(0);
    });

    it("cuts Node's request at the deadline, paused and left unread", async () => {
      const incoming = Object.assign(new Readable({ read() {} }), { rawHeaders: [] });
      incoming.push(bytes('{"a":'));
      const res = await limited.fetch(new Request('http://worker/', { method: 'POST', body: 'x' }), {
        incoming,
      });
      expect(res.status).toBe(408);
      expect(incoming.isPaused()).toBe(true);
      expect(incoming.listenerCount('data')).toBe(0);
    });

    it('refuses one body more than the bound with 429 busy, without reading it', async () => {
      const first = streamed(never());
      await until(() => bodies.reading === 1, 'the first body to be read', 5_000);
      const incoming = nodeRequest([bytes('{}')]);
      const res = await limited.fetch(new Request('http://worker/', { method: 'POST', body: 'x' }), {
        incoming,
      });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as any).error.code).toBe('busy');
      expect(incoming.readableFlowing).toBe(null);
      expect((await first).status).toBe(408);
      expect(
        (await limited.fetch(new Request('http://worker/', { method: 'POST', body: '{}' }))).status,
      ).toBe(200);
    });
  });
});
