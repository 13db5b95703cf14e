// The worker endpoint's HTTP surface: push (POST /), signed manifest (GET /), /health and /metrics.

import { type Context, Hono } from 'hono';
import type { KeySet } from '../auth/keys.ts';
import { verifyPushBody, verifyPushHeader } from '../auth/push.ts';
import type { ReplayStore } from '../auth/replay.ts';
import {
  bodyReading,
  closeIfBodyUnread,
  refuseDeclaredOverLimit,
  type UnverifiedBodyLimits,
} from '../http/body.ts';
import { issuesOf, PushworkerError } from '../protocol/errors.ts';
import type { DeliveryMode } from '../protocol/schemas.ts';
import {
  type AssignPush,
  type Health,
  PushBody,
  type Registration,
  type RunEvent,
  type RunResult,
  SIGNATURE_HEADER,
} from '../protocol/schemas.ts';
import { deferTo } from './defer-to.ts';
import { type HatchetOptions, mountHatchet } from './hatchet.ts';
import { eventsForAnswer } from './held-events.ts';
import { parseJsonBody } from './json-body.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Platform } from './platform.ts';
import type { EventReporter } from './reporter.ts';
import type { Runner } from './runner.ts';
import type { AnyTask } from './task.ts';
import type { Workflow } from './workflow.ts';

export interface PushAppOptions {
  name: string;
  mode: DeliveryMode;
  /** Without keys only the Hatchet routes are served. */
  keys?: KeySet;
  replay: ReplayStore;
  issuer?: string;
  clockToleranceS?: number;
  maxBodyBytes: number;
  /** Bodies read before they can be verified: each one's deadline, and how many at once. */
  unverifiedBodies: UnverifiedBodyLimits;
  /** Sync mode: how long the answer waits for its events to be delivered. */
  syncFlushTimeoutMs: number;
  runner: Runner;
  reporter: EventReporter;
  metrics: Metrics;
  log: Logger;
  manifest: () => Registration;
  health: () => Health;
  isStopping: () => boolean;
  tasks: AnyTask[];
  workflows: Workflow[];
  hatchet?: HatchetOptions;
  platform: Platform;
}

const EMPTY = new Uint8Array(0);

export function createPushApp(o: PushAppOptions): Hono {
  const authFailures = o.metrics.counter(
    'pushworker_push_auth_failures_total',
    'Pushes refused, by error code.',
  );
  const verifyOptions = (keys: KeySet) => ({
    keys,
    audience: o.name,
    replay: o.replay,
    issuer: o.issuer,
    clockToleranceS: o.clockToleranceS,
    hashBody: o.platform.hashBody,
    verifySignature: o.platform.verifySignature,
  });
  const counted = async <T>(check: Promise<T>): Promise<T> => {
    try {
      return await check;
    } catch (error) {
      if (error instanceof PushworkerError) authFailures.inc({ code: error.code });
      throw error;
    }
  };
  /** The signature header first, then the body it vouches for: a forged push is refused with its body unread. */
  const verified = async (c: Context, body: (c: Context) => Promise<Uint8Array>) => {
    const keys = o.keys;
    if (!keys) throw new PushworkerError('not_found', 'this endpoint serves only the Hatchet protocol');
    const claims = await counted(verifyPushHeader(c.req.header(SIGNATURE_HEADER), verifyOptions(keys)));
    const bytes = await body(c);
    await counted(verifyPushBody(claims, bytes, verifyOptions(keys)));
    return bytes;
  };
  const bodies = bodyReading(o.maxBodyBytes, () => o.platform.readBody, o.unverifiedBodies);
  const readBody = bodies.read;
  o.metrics.gauge(
    'pushworker_unverified_bodies_reading',
    'Request bodies being read before they can be verified.',
    () => bodies.reading,
  );
  const refuseWhenStopping = () => {
    if (o.isStopping()) throw new PushworkerError('stopping', 'the worker is shutting down');
  };

  const app = new Hono();
  app.get('/health', (c) => c.json(o.health(), o.isStopping() ? 503 : 200));
  app.get('/metrics', (c) =>
    c.text(o.metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }),
  );

  app.get('/', async (c) => {
    await verified(c, async () => EMPTY);
    return c.json(o.manifest());
  });

  // Size first, from the declared length, before any other check reads a header.
  app.post('*', async (c, next) => {
    refuseDeclaredOverLimit(c, o.maxBodyBytes);
    await next();
  });
  app.post('/', async (c) => {
    refuseWhenStopping();
    const push = parsePush(await verified(c, readBody));
    if ('cancel' in push) return c.json(o.runner.cancel(push.cancel));
    return admit(c, push);
  });
  if (o.hatchet) mountHatchet(app, o.hatchet, { ...o, readBody, refuseWhenStopping });

  const admit = async (c: Context, push: AssignPush) => {
    const withinMs = push.answerWithinMs;
    const { started, rejected } = o.runner.admit(push.assignments, { holdEvents: withinMs !== undefined });
    if (started.length === 0 && rejected.length > 0 && rejected.every((r) => r.reason === 'no_slot')) {
      c.header('retry-after', '1');
      throw new PushworkerError('no_slot', 'every slot is taken');
    }
    // The engine takes the events of runs that end quickly in the answer: one request for the push and its outcome.
    let events: RunEvent[] = [];
    if (withinMs !== undefined) {
      const answered = eventsForAnswer(started, withinMs);
      o.reporter.holdUntil(answered);
      events = await answered;
    }
    const carried = events.length > 0 ? { events } : {};
    const accepted = started.map((s) => s.ref);
    if (o.mode === 'async') return c.json({ accepted, rejected, ...carried }, 202);

    // workerd drops a request whose client has gone, and with it whatever a task still does after its
    // signal fires: keep the request alive until every task has returned and freed its slots.
    deferTo(c, Promise.all(started.map((s) => s.settled)));
    const results = (await Promise.all(started.map((s) => s.result))).filter((r): r is RunResult => !!r);
    // Results travel in the answer too, so an engine that cannot take events must not hold the answer forever.
    const flushed = o.reporter.flush(o.syncFlushTimeoutMs);
    // The engine ends the attempt as it reads the answer: a step event arriving after that is dropped, missing from
    // the journal the run is pushed again with (after a suspension or a failure), and the step would run again.
    const recordedSteps = started.some((s) => s.recordedSteps());
    if (recordedSteps || !deferTo(c, flushed)) await flushed;
    return c.json({ results, rejected, ...carried }, 200);
  };

  app.notFound(() => {
    throw new PushworkerError('not_found', 'no such route');
  });
  app.onError((error, c) => {
    // An untrusted sender's body is not worth reading; a trusted one's (503 stopping, 429 busy) is drained
    // briefly by the server instead, so that the engine reads the answer it acts on.
    if (error instanceof PushworkerError && (error.status === 401 || error.status === 404))
      closeIfBodyUnread(c);
    if (error instanceof PushworkerError) return c.json(error.toJSON(), error.status as 400);
    o.log.error('unexpected error while handling a request', { error: error.message });
    return c.json(new PushworkerError('internal', 'internal error').toJSON(), 500);
  });
  return app;
}

function parsePush(bytes: Uint8Array): PushBody {
  const parsed = PushBody.safeParse(parseJsonBody(bytes));
  if (!parsed.success) {
    throw new PushworkerError('invalid_request', 'the body is not a valid push', issuesOf(parsed.error));
  }
  return parsed.data;
}
