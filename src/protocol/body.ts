// Request bodies, read once and within a size limit, for the engine's API and the worker endpoint alike.
import type { Context, MiddlewareHandler } from 'hono';
import { PushworkerError } from './errors.ts';

/** The little of Node's `IncomingMessage` used here; this module names no Node type, and runs everywhere. */
interface NodeRequest {
  rawHeaders: string[];
  /** Read already, e.g. by a body parser mounted before us. */
  readableEnded: boolean;
  /** The bytes, where a framework read them first (node-server takes them from here too). */
  rawBody?: unknown;
  on(event: string, listener: (chunk?: Uint8Array | Error) => void): unknown;
  off(event: string, listener: (chunk?: Uint8Array | Error) => void): unknown;
  pause(): unknown;
}

const bodies = new WeakMap<Context, Uint8Array>();
const EMPTY = new Uint8Array(0);

/**
 * Reads each request's body before the routes run, refusing one over `maxBytes` (declared or as read) with
 * 413 `too_large`; the routes take it from `bodyOf`.
 *
 * Served by @hono/node-server, whose bindings carry Node's own request as `incoming`, the body is read from
 * that request. Reading it through the Web `Request` makes node-server build that Request and a stream around
 * Node's: per request that cost more than a small push or enqueue itself, and the Request's abort signal goes
 * to a finalization registry, whose objects outlive young-generation collections.
 */
export function readBodies(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') bodies.set(c, await readBody(c, maxBytes));
    await next();
  };
}

/** The body `readBodies` read (empty when it read none). */
export function bodyOf(c: Context): Uint8Array {
  return bodies.get(c) ?? EMPTY;
}

async function readBody(c: Context, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => {
    // The rest of the body is left unread: the connection cannot carry another request.
    c.header('connection', 'close');
    return new PushworkerError('too_large', `the body is larger than ${maxBytes} bytes`);
  };
  if (Number(c.req.header('content-length')) > maxBytes) throw tooLarge();
  const incoming = (c.env as { incoming?: Partial<NodeRequest> } | undefined)?.incoming;
  const chunks = isNodeRequest(incoming)
    ? await nodeChunks(incoming, maxBytes)
    : await webChunks(c.req.raw.body, maxBytes);
  if (!chunks) throw tooLarge();
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

function isNodeRequest(x: Partial<NodeRequest> | undefined): x is NodeRequest {
  return (
    typeof x?.on === 'function' &&
    typeof x.off === 'function' &&
    typeof x.pause === 'function' &&
    Array.isArray(x.rawHeaders)
  );
}

/** The body's chunks, or undefined once they pass `maxBytes` (the rest is not read). */
function nodeChunks(incoming: NodeRequest, maxBytes: number): Promise<Uint8Array[] | undefined> {
  if (incoming.rawBody instanceof Uint8Array)
    return Promise.resolve(incoming.rawBody.length > maxBytes ? undefined : [incoming.rawBody]);
  if (incoming.readableEnded) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const settle = (error?: Error, result?: Uint8Array[]) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      if (error) reject(error);
      else resolve(result);
    };
    const onData = (chunk?: Uint8Array | Error) => {
      const bytes = chunk as Uint8Array;
      size += bytes.length;
      if (size <= maxBytes) return void chunks.push(bytes);
      incoming.pause();
      settle();
    };
    const onEnd = () => settle(undefined, chunks);
    const onError = (error?: Uint8Array | Error) => settle(error as Error);
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}

async function webChunks(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array[] | undefined> {
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
      return undefined;
    }
    chunks.push(value);
  }
}
