// Signed HTTP to worker endpoints: assignment and cancel pushes, and manifest pulls.

import type { SigningKey } from '../auth/keys.ts';
import { signPush } from '../auth/push.ts';
import { nodeBodyHash } from '../node/hash.ts';
import { PushworkerError } from '../protocol/errors.ts';
import { PROTOCOL_VERSION, Registration, type RunRef, SIGNATURE_HEADER } from '../protocol/schemas.ts';
import type { Outbound, OutboundAnswer } from './outbound/client.ts';
import { AnswerTooLarge, DeadlinePassed, PrivateTarget } from './outbound/failures.ts';
import { transportCode } from './push-failures.ts';

export interface PushTarget {
  url: string;
  /** The worker's name: the push audience. */
  name: string;
}

export interface PushContext {
  key: SigningKey;
  issuer: string;
  /** The deadline of the whole push, answer included. */
  timeoutMs: number;
  outbound: Outbound;
}

export interface PushReply {
  status: number;
  body: unknown;
  /** From `Retry-After` on a 429, in ms. */
  retryAfterMs?: number;
  /** Why there was no answer (status 0): said to the operator. */
  failure?: string;
}

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
  const answer = await ctx.outbound.call(target.url, {
    method,
    headers: {
      [SIGNATURE_HEADER]: signature,
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    ...(method === 'POST' ? { body } : {}),
    deadlineMs: ctx.timeoutMs,
  });
  const reply: PushReply = { status: answer.status, body: parseJson(answer.text) };
  const retryAfter = Number(answer.headers['retry-after']);
  if (answer.status === 429 && Number.isFinite(retryAfter) && retryAfter > 0)
    reply.retryAfterMs = retryAfter * 1000;
  return reply;
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Pushes assignments, as a body `cutPushes` made. */
export function pushAssignments(target: PushTarget, ctx: PushContext, body: string): Promise<PushReply> {
  return send(target, ctx, 'POST', body);
}

export function pushCancel(target: PushTarget, ctx: PushContext, cancel: RunRef[]): Promise<PushReply> {
  return send(target, ctx, 'POST', JSON.stringify({ v: PROTOCOL_VERSION, cancel }));
}

/** Pulls a serverless worker's signed manifest (`GET <url>` with an empty signed body). */
export async function pullManifest(target: PushTarget, ctx: PushContext): Promise<Registration> {
  let reply: PushReply;
  try {
    reply = await send(target, ctx, 'GET', '');
  } catch (error) {
    throw registrationFailure(error, `the worker at ${target.url} gave no manifest`);
  }
  if (reply.status !== 200) {
    throw new PushworkerError(
      'invalid_request',
      `the worker at ${target.url} answered ${reply.status} to a manifest pull${redirectNote(reply.status)}`,
    );
  }
  const parsed = Registration.safeParse(reply.body);
  if (!parsed.success)
    throw new PushworkerError('invalid_request', 'the worker manifest is not a valid registration');
  return parsed.data;
}

/** Reads a worker's name from its public health route, for registering by URL alone. */
export async function fetchWorkerName(url: string, ctx: PushContext): Promise<string> {
  const base = url.endsWith('/') ? url.slice(0, -1) : url;
  const missing = `no worker name given and none found at ${base}/health`;
  let answer: OutboundAnswer;
  try {
    answer = await ctx.outbound.call(`${base}/health`, { method: 'GET', deadlineMs: ctx.timeoutMs });
  } catch (error) {
    throw registrationFailure(error, missing);
  }
  if (answer.status !== 200)
    throw new PushworkerError(
      'invalid_request',
      `${missing}: it answered ${answer.status}${redirectNote(answer.status)}`,
    );
  const name = (parseJson(answer.text) as { name?: unknown } | undefined)?.name;
  if (typeof name === 'string' && name) return name;
  throw new PushworkerError('invalid_request', missing);
}

/** A registration's call that got no answer: a private target is `forbidden_target`, anything else says why. */
function registrationFailure(error: unknown, what: string): PushworkerError {
  if (error instanceof PrivateTarget)
    return new PushworkerError('forbidden_target', `${what}: ${error.message}`);
  const why =
    error instanceof AnswerTooLarge || error instanceof DeadlinePassed
      ? error.message
      : `it could not be reached (${transportCode(error)})`;
  return new PushworkerError('invalid_request', `${what}: ${why}`);
}

function redirectNote(status: number): string {
  return status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
}
