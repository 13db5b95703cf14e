// Request plumbing shared by the API routes: body parsing, bearer auth, error rendering.
import { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { bearerOf } from '../../auth/tokens.ts';
import { PushworkerError } from '../../protocol/errors.ts';
import type { EngineCore } from '../core.ts';
import type { Principal } from '../tokens.ts';
import { isStorable, parseStorableJson } from './json.ts';

const bodies = new WeakMap<Context, string>();
const decoder = new TextDecoder();

/**
 * Reads each request's body before the routes run, refusing one over `maxBytes` with 413 `too_large`. Served
 * by @hono/node-server, the body is read from Node's request itself: building the Web `Request` and its stream
 * to read a small JSON body cost the engine's thread more than handling the request.
 */
export function readBodies(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') bodies.set(c, await readBody(c, maxBytes));
    await next();
  };
}

async function readBody(c: Context, maxBytes: number): Promise<string> {
  const tooLarge = () => {
    // The rest of the body is not read: the connection cannot carry another request.
    c.header('connection', 'close');
    return new PushworkerError('too_large', `the body is larger than ${maxBytes} bytes`);
  };
  if (Number(c.req.header('content-length')) > maxBytes) throw tooLarge();
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  // Node's web streams are async iterables too (the engine runs on Node alone).
  const source = (
    incoming instanceof IncomingMessage ? incoming : c.req.raw.body
  ) as AsyncIterable<Uint8Array> | null;
  if (!source) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return decoder.decode(bytes);
}

export async function parseBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const parsed = schema.safeParse(parseStorableJson(bodies.get(c) ?? ''));
  if (!parsed.success) {
    throw new PushworkerError('invalid_request', 'the request body is not valid', parsed.error.issues);
  }
  return parsed.data;
}

/** A URL holding what the store cannot hold (a NUL, an unpaired surrogate) names nothing that exists: 404. */
export function checkStorableUrl(c: Context): void {
  let decoded: string;
  try {
    const url = new URL(c.req.url);
    decoded = decodeURIComponent(url.pathname + url.search);
  } catch {
    throw new PushworkerError('not_found', 'the URL is not validly percent-encoded');
  }
  if (!isStorable(decoded)) throw new PushworkerError('not_found', 'no resource has such a name');
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    throw new PushworkerError('invalid_request', 'the query string is not valid', parsed.error.issues);
  }
  return parsed.data;
}

export function requireApi(core: EngineCore, c: Context): Promise<Principal> {
  return core.tokens.authenticate(bearerOf(c.req.header('authorization')), 'api');
}

export function requireWorker(core: EngineCore, c: Context): Promise<Principal> {
  return core.tokens.authenticate(bearerOf(c.req.header('authorization')), 'worker');
}

export function renderError(error: unknown, c: Context, onError: (e: unknown) => void): Response {
  if (error instanceof PushworkerError) {
    return c.json(error.toJSON(), error.status as 400);
  }
  onError(error);
  return c.json(new PushworkerError('internal', 'internal error').toJSON(), 500);
}

export function notFound(what: string): PushworkerError {
  return new PushworkerError('not_found', `${what} was not found`);
}
