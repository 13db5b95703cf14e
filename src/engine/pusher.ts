// Signed HTTP to worker endpoints: assignment and cancel pushes, and manifest pulls.

import type { SigningKey } from '../auth/keys.ts';
import { signPush } from '../auth/push.ts';
import { nodeBodyHash } from '../node/hash.ts';
import { lazyPeer } from '../optional-peer.ts';
import { PushworkerError } from '../protocol/errors.ts';
import {
  type Assignment,
  PROTOCOL_VERSION,
  Registration,
  type RunRef,
  SIGNATURE_HEADER,
} from '../protocol/schemas.ts';

export interface PushTarget {
  url: string;
  /** The worker's name: the push audience. */
  name: string;
}

export interface PushContext {
  key: SigningKey;
  issuer: string;
  timeoutMs: number;
}

export interface PushReply {
  status: number;
  body: unknown;
  /** From `Retry-After` on a 429, in ms. */
  retryAfterMs?: number;
  /** Why there was no answer (status 0): said to the operator. */
  failure?: string;
}

const loadUndici = lazyPeer('undici', 'the engine', () => import('undici'));

async function send(
  target: PushTarget,
  ctx: PushContext,
  method: 'POST' | 'GET',
  body: string,
): Promise<PushReply> {
  const signature = await signPush({
    key: ctx.key,
    issuer: ctx.issuer,
    audience: target.name,
    body,
    hashBody: nodeBodyHash,
  });
  // undici's request rather than fetch: pushes are the engine's hottest requests, and fetch's Request,
  // Response and stream objects cost its thread far more than the request itself. Redirects are not followed.
  // The timeout is undici's own (its default of 300 s would cut a sync worker's long push short), not an
  // AbortSignal.timeout, whose timer would outlive every push by the whole timeout.
  const { request } = await loadUndici();
  const response = await request(target.url, {
    method,
    headers: {
      [SIGNATURE_HEADER]: signature,
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    ...(method === 'POST' ? { body } : {}),
    headersTimeout: ctx.timeoutMs,
    bodyTimeout: ctx.timeoutMs,
  });
  const text = await response.body.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const reply: PushReply = { status: response.statusCode, body: parsed };
  const retryAfter = Number(response.headers['retry-after']);
  if (response.statusCode === 429 && Number.isFinite(retryAfter) && retryAfter > 0)
    reply.retryAfterMs = retryAfter * 1000;
  return reply;
}

export function pushAssignments(
  target: PushTarget,
  ctx: PushContext,
  assignments: Assignment[],
): Promise<PushReply> {
  return send(target, ctx, 'POST', JSON.stringify({ v: PROTOCOL_VERSION, assignments }));
}

export function pushCancel(target: PushTarget, ctx: PushContext, cancel: RunRef[]): Promise<PushReply> {
  return send(target, ctx, 'POST', JSON.stringify({ v: PROTOCOL_VERSION, cancel }));
}

/** Pulls a serverless worker's signed manifest (`GET <url>` with an empty signed body). */
export async function pullManifest(target: PushTarget, ctx: PushContext): Promise<Registration> {
  let reply: PushReply;
  try {
    reply = await send(target, ctx, 'GET', '');
  } catch {
    throw new PushworkerError('invalid_request', `the worker at ${target.url} could not be reached`);
  }
  if (reply.status !== 200) {
    throw new PushworkerError(
      'invalid_request',
      `the worker at ${target.url} answered ${reply.status} to a manifest pull`,
    );
  }
  const parsed = Registration.safeParse(reply.body);
  if (!parsed.success)
    throw new PushworkerError('invalid_request', 'the worker manifest is not a valid registration');
  return parsed.data;
}

/** Reads a worker's name from its public health route, for registering by URL alone. */
export async function fetchWorkerName(url: string, timeoutMs: number): Promise<string> {
  const base = url.endsWith('/') ? url.slice(0, -1) : url;
  try {
    const response = await fetch(`${base}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json()) as { name?: unknown };
    if (typeof body.name === 'string' && body.name) return body.name;
  } catch {
    // fall through to the error below
  }
  throw new PushworkerError('invalid_request', `no worker name given and none found at ${base}/health`);
}
