// Request bodies, read once and within a size limit, for the engine's API and the worker endpoint alike.
import type { Context, MiddlewareHandler } from 'hono';
import { PushworkerError } from '../protocol/errors.ts';

/**
 * Reads a body from what the server put in the request's bindings (Hono's `c.env`), where that is cheaper than the
 * Web `Request`'s stream: the chunks, or `too_large` once they pass `maxBytes`. Answers `undefined` when the
 * bindings hold nothing it can read, and the stream is read instead. A runtime adapter gives one (Node's, in
 * `src/node/body.ts`); the code here knows only Web streams.
 */
export type BodyReader = (
  bindings: unknown,
  maxBytes: number,
) => Promise<Uint8Array[] | 'too_large'> | undefined;

const bodies = new WeakMap<Context, Uint8Array>();
const EMPTY = new Uint8Array(0);

/**
 * Reads each request's body before the routes run, refusing one over `maxBytes` (declared or as read) with
 * 413 `too_large`; the routes take it from `bodyOf`. `reader` is asked at each request, so that an adapter can
 * provide one after the app was made.
 */
export function readBodies(maxBytes: number, reader?: () => BodyReader | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD')
      bodies.set(c, await readBody(c, maxBytes, reader?.()));
    await next();
  };
}

/** The body `readBodies` read (empty when it read none). */
export function bodyOf(c: Context): Uint8Array {
  return bodies.get(c) ?? EMPTY;
}

async function readBody(c: Context, maxBytes: number, reader: BodyReader | undefined): Promise<Uint8Array> {
  const tooLarge = () => {
    // The rest of the body is left unread: the connection cannot carry another request.
    c.header('connection', 'close');
    return new PushworkerError('too_large', `the body is larger than ${maxBytes} bytes`);
  };
  if (Number(c.req.header('content-length')) > maxBytes) throw tooLarge();
  const chunks = (await reader?.(c.env, maxBytes)) ?? (await webChunks(c.req.raw.body, maxBytes));
  if (chunks === 'too_large') throw tooLarge();
  return concatBytes(chunks);
}

/** One array of all the chunks' bytes, in order; the chunk itself when there is one. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

async function webChunks(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array[] | 'too_large'> {
  if (!body) return [];
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    size += value.length;
    if (size > maxBytes) {
      reader.releaseLock();
      return 'too_large';
    }
    chunks.push(value);
  }
}
