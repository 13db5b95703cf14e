// The engine's side of a conformance scenario: signed pushes to any target, and each run's outcome.
import { expect } from 'vitest';
import type { signPush } from '../../src/auth/index.ts';
import { type RunEvent, SIGNATURE_HEADER } from '../../src/protocol/schemas.ts';
import { hatchetHeaders } from '../support/hatchet.ts';
import type { Reply, Target } from './targets/target.ts';

type Claims = Partial<Parameters<typeof signPush>[0]>;

export function clientOf(target: Target) {
  const post = (body: string, headers: Record<string, string> = {}) =>
    target.call({
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  return {
    /** POSTs `body` unsigned, or with the given headers. */
    post,
    /** POSTs `body` signed for the worker (or as `claims` say). */
    async push(body: string, claims: Claims = {}): Promise<Reply> {
      return post(body, { [SIGNATURE_HEADER]: await target.pusher.sign(body, claims) });
    },
    /** GETs a route; `signed` adds a signature over the empty body (the manifest). */
    async get(path: string, { signed = false } = {}): Promise<Reply> {
      const headers: Record<string, string> = signed
        ? { [SIGNATURE_HEADER]: await target.pusher.sign('') }
        : {};
      return target.call({ method: 'GET', path, headers });
    },
  };
}

export interface HatchetCallOptions {
  /** Sign with another secret. */
  secret?: string;
  /** `X-Hatchet-Timestamp` in unix seconds; default now; `null` sends none (as older operators do). */
  timestamp?: number | null;
  /** Send no `X-Hatchet-Signature`. */
  unsigned?: boolean;
  /** Sign these bytes instead of the body sent. */
  signedBody?: string;
  signal?: AbortSignal;
}

/** Hatchet's HTTP operator's side: signed health checks and triggers, as `test/support/hatchet.ts` builds them. */
export function hatchetClientOf(target: Target) {
  const post = (path: string, body: string, options: HatchetCallOptions = {}) => {
    const timestamp = options.timestamp === undefined ? Math.floor(Date.now() / 1000) : options.timestamp;
    const headers: Record<string, string> = hatchetHeaders(options.signedBody ?? body, {
      secret: options.secret,
      timestamp: timestamp ?? undefined,
    });
    if (options.unsigned) delete headers['x-hatchet-signature'];
    return target.call({ method: 'POST', path, headers, body, signal: options.signal });
  };
  return {
    health: (options?: HatchetCallOptions) => post('/hatchet/health', '{}', options),
    trigger: (body: string, options?: HatchetCallOptions) => post('/hatchet/trigger', body, options),
    /** The action id Hatchet registers for `task` under this target's naming, or under its `workflow`'s name. */
    actionId: (task: string, workflow?: string) =>
      `${target.hatchet.namespace ?? ''}${workflow ?? target.hatchet.workflowName ?? task}:${task.toLowerCase()}`,
  };
}

/** A counter's total over every label set, from `/metrics` (0 before its first increment). */
export async function counterTotal(target: Target, name: string): Promise<number> {
  const reply = await target.call({ method: 'GET', path: '/metrics', headers: {} });
  expect(reply.status).toBe(200);
  let total = 0;
  for (const line of reply.text.split('\n')) {
    const match = /^(\S+?)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) total += Number(match[2]);
  }
  return total;
}

const TERMINAL = new Set(['completed', 'failed']);

export interface Outcome {
  status: 'completed' | 'failed';
  output?: unknown;
  error?: { name: string; message: string; retryable: boolean };
  events: RunEvent['type'][];
}

/**
 * The terminal outcome of `runId` from a push's reply: from the 200 body in sync mode, from the sink's
 * events in async mode. Either way the sink must hold `started` and the same terminal event; on
 * targets that flush before returning (Lambda), it must hold them as soon as the reply is in.
 */
export async function outcomeOf(target: Target, reply: Reply, runId: string): Promise<Outcome> {
  const { sink } = target;
  const terminal = () => sink.of(runId).find((e) => TERMINAL.has(e.type));
  if (reply.status === 200 && target.flushedOnReturn) expect(terminal()).toBeDefined();
  else await sink.waitFor(() => terminal() !== undefined);
  const event = terminal()!;
  const outcome: Outcome = {
    status: event.type as Outcome['status'],
    ...('output' in event ? { output: event.output } : {}),
    ...('error' in event ? { error: event.error } : {}),
    events: sink.of(runId).map((e) => e.type),
  };
  if (target.mode === 'async') {
    expect(reply.status).toBe(202);
    expect(reply.json.accepted).toContainEqual({ runId, attempt: 1 });
  } else {
    expect(reply.status).toBe(200);
    const result = reply.json.results.find((r: { runId: string }) => r.runId === runId);
    expect(result).toMatchObject({ runId, attempt: 1, status: outcome.status });
    expect(result.output ?? null).toEqual(outcome.output ?? null);
    expect(result.error).toEqual(outcome.error);
  }
  expect(outcome.events[0]).toBe('started');
  return outcome;
}

/** The per-assignment rejections of a 2xx push reply, in either mode. */
export function rejectionsOf(reply: Reply): { runId: string; reason: string; issues?: unknown[] }[] {
  expect([200, 202]).toContain(reply.status);
  return reply.json.rejected;
}

/** The runIds a push reply took: `accepted` (async) or `results` (sync). */
export function takenOf(reply: Reply): string[] {
  return (reply.json.accepted ?? reply.json.results).map((r: { runId: string }) => r.runId);
}
