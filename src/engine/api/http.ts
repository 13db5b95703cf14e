// Request plumbing shared by the API routes: body parsing, bearer auth and scopes, error rendering.
import type { Context } from 'hono';
import type { z } from 'zod';
import { bearerOf } from '../../auth/tokens.ts';
import { bodyOf } from '../../http/body.ts';
import { PushworkerError } from '../../protocol/errors.ts';
import { Traceparent } from '../../protocol/traceparent.ts';
import type { EngineCore } from '../core.ts';
import { getRun } from '../store/runs.ts';
import type { Principal } from '../tokens.ts';
import { scopeOfRoute } from './access.ts';
import { isStorable, parseStorableJson } from './json.ts';

const decoder = new TextDecoder();

export async function parseBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const parsed = schema.safeParse(parseStorableJson(decoder.decode(bodyOf(c))));
  if (!parsed.success) {
    throw new PushworkerError('invalid_request', 'the request body is not valid', parsed.error.issues);
  }
  return parsed.data;
}

/** The caller's span, from the W3C `traceparent` header (docs/protocol.md, Tracing): a malformed one is refused. */
export function traceparentHeader(c: Context): string | undefined {
  const value = c.req.header('traceparent');
  if (value === undefined) return undefined;
  const parsed = Traceparent.safeParse(value.trim());
  if (!parsed.success) {
    throw new PushworkerError('invalid_request', 'the traceparent header is not valid', parsed.error.issues);
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

/** An API token allowing what the matched route needs, by `ROUTE_ACCESS`: 401 without one, 403 when it allows less. */
export function requireApi(core: EngineCore, c: Context): Promise<Principal> {
  const scope = scopeOfRoute(c.req.method, c.req.routePath);
  return core.tokens.authorize(bearerOf(c.req.header('authorization')), scope);
}

/**
 * Below `admin`, a token acts only on the runs it enqueued; a run that does not exist is left to the route's own
 * answer. The run's creator never changes, so reading it before the route's own update leaves no race.
 */
export function checkOwnRun(core: EngineCore, principal: Principal, runId: string): Promise<void> {
  return checkOwn(principal, 'run', async () => (await getRun(core.sql, runId))?.createdBy);
}

/** The same for anything an API token enqueued: `creatorOf` answers undefined when there is no such thing. */
export async function checkOwn(
  principal: Principal,
  what: string,
  creatorOf: () => Promise<string | null | undefined>,
): Promise<void> {
  if (principal.scope === 'admin') return;
  const createdBy = await creatorOf();
  if (createdBy === undefined || (createdBy !== null && createdBy === principal.tokenId)) return;
  throw new PushworkerError(
    'forbidden',
    `a token of scope ${principal.scope} acts only on ${what}s it enqueued; this ${what} was enqueued by another token`,
  );
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
