// Request bodies, read once and within a size limit, for the engine's API and the worker endpoint alike.
import type { Context, MiddlewareHandler } from 'hono';
import { PushworkerError } from '../protocol/errors.ts';

/** What a body read ends with: its chunks, or why it stopped. */
export type BodyRead = Uint8Array[] | 'too_large' | 'timed_out';

/**
 * Reads a body from what the server put in the request's bindings (Hono's `c.env`), where that is cheaper than the
 * Web `Request`'s stream: the chunks, `too_large` once they pass `maxBytes`, or `timed_out` once `signal` fires
 * (the rest is left unread either way). Answers `undefined` when the bindings hold nothing it can read, and the
 * stream is read instead. A runtime adapter gives one (Node's, in `src/node/body.ts`); the code here knows only
 * Web streams.
 */
export type BodyReader = (
  bindings: unknown,
  maxBytes: number,
  signal?: AbortSignal,
) => Promise<BodyRead> | undefined;

/**
 * Bodies read before anything vouches for them (a push whose header verified but whose `bh` has not been checked
 * yet; a Hatchet request, whose HMAC covers the body): each has `timeoutMs` to arrive, and at most `maxAtOnce`
 * are read at once, so that slow or held-open uploads cannot pile up in memory.
 */
export interface UnverifiedBodyLimits {
  timeoutMs: number;
  maxAtOnce: number;
}

const bodies = new WeakMap<Context, Uint8Array>();
const EMPTY = new Uint8Array(0);

/**
 * Reads each request's body before the routes run, refusing one over `maxBytes` (declared or as read) with 413
 * `too_large`; the routes take it from `bodyOf`. `reader` is asked at each request, so that an adapter can
 * provide one after the app was made.
 */
export function readBodies(maxBytes: number, reader?: () => BodyReader | undefined): MiddlewareHandler {
  const { read } = bodyReading(maxBytes, reader);
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') await read(c);
    await next();
  };
}

export interface BodyReading {
  /** Reads the request's body (after the declared-size check); `bodyOf` gives it again. */
  read(c: Context): Promise<Uint8Array>;
  /** Bodies being read now. */
  readonly reading: number;
}

/**
 * The body read for a route to call once its checks of the headers have passed: as `readBodies`, and with
 * `unverified`, a body that does not arrive in time is refused 408 `body_timeout`, and one more than the bound
 * allows at once is refused 429 `busy` (with `Retry-After`) without being read.
 */
export function bodyReading(
  maxBytes: number,
  reader?: () => BodyReader | undefined,
  unverified?: UnverifiedBodyLimits,
): BodyReading {
  let reading = 0;
  const within = async (c: Context, limits: UnverifiedBodyLimits) => {
    if (reading >= limits.maxAtOnce) {
      // Not closed: the sender may well be the engine, which must read this answer to wait instead of failing,
      // and a server that closes with the body unread resets the connection, answer and all.
      c.header('retry-after', '1');
      throw new PushworkerError('busy', `the worker is already reading ${reading} unverified bodies`);
    }
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), limits.timeoutMs);
    reading++;
    try {
      return await readBody(c, maxBytes, reader?.(), deadline.signal, limits.timeoutMs);
    } finally {
      clearTimeout(timer);
      reading--;
    }
  };
  return {
    async read(c) {
      refuseDeclaredOverLimit(c, maxBytes);
      return remember(c, await (unverified ? within(c, unverified) : readBody(c, maxBytes, reader?.())));
    },
    get reading() {
      return reading;
    },
  };
}

function remember(c: Context, body: Uint8Array): Uint8Array {
  bodies.set(c, body);
  return body;
}

/** Refuses a body whose declared length is over `maxBytes`: the first check, before any other reads a header. */
export function refuseDeclaredOverLimit(c: Context, maxBytes: number): void {
  if (Number(c.req.header('content-length')) > maxBytes) throw tooLarge(c, maxBytes);
}

/**
 * Answers with `connection: close` when the body is left unread, so that the server reads no more of it (for a
 * sender refused as untrusted: one still writing may see the connection reset instead of the answer).
 */
export function closeIfBodyUnread(c: Context): void {
  const method = c.req.method;
  if (method === 'GET' || method === 'HEAD' || bodies.has(c)) return;
  const declared = c.req.header('content-length');
  if (declared === undefined ? c.req.header('transfer-encoding') !== undefined : Number(declared) > 0)
    c.header('connection', 'close');
}

/** The body `readBodies` read (empty when it read none). */
export function bodyOf(c: Context): Uint8Array {
  return bodies.get(c) ?? EMPTY;
}

function tooLarge(c: Context, maxBytes: number): PushworkerError {
  return unread(c, 'too_large', `the body is larger than ${maxBytes} bytes`);
}

/** A refusal that leaves the rest of the body unread: the connection cannot carry another request. */
function unread(c: Context, code: 'too_large' | 'body_timeout', message: string): PushworkerError {
  c.header('connection', 'close');
  return new PushworkerError(code, message);
}

async function readBody(
  c: Context,
  maxBytes: number,
  reader: BodyReader | undefined,
  signal?: AbortSignal,
  timeoutMs?: number,
): Promise<Uint8Array> {
  const read =
    (await reader?.(c.env, maxBytes, signal)) ?? (await webChunks(c.req.raw.body, maxBytes, signal));
  if (read === 'too_large') throw tooLarge(c, maxBytes);
  if (read === 'timed_out') throw unread(c, 'body_timeout', `the body did not arrive within ${timeoutMs} ms`);
  return concatBytes(read);
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

/** Reads a Web stream's chunks: `too_large` once they pass `maxBytes`, `timed_out` once `signal` fires. */
export async function webChunks(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  signal: AbortSignal | undefined,
): Promise<BodyRead> {
  if (!body) return [];
  const reader = body.getReader();
  const timedOut = new Promise<'timed_out'>((resolve) => {
    if (signal?.aborted) resolve('timed_out');
    signal?.addEventListener('abort', () => resolve('timed_out'), { once: true });
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const next = await Promise.race([reader.read(), timedOut]);
    if (next === 'timed_out') {
      reader.cancel().catch(() => {});
      return next;
    }
    const { done, value } = next;
    if (done) return chunks;
    size += value.length;
    if (size > maxBytes) {
      reader.releaseLock();
      return 'too_large';
    }
    chunks.push(value);
  }
}
