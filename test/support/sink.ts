// An events sink on loopback that plays the engine's `/v1/events` (and registration) for worker tests.
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { EventsBody, type RunEvent } from '../../src/protocol/schemas.ts';
import { until } from './until.ts';

export interface Sink {
  url: string;
  eventsUrl: string;
  events: RunEvent[];
  authorizations: string[];
  registrations: unknown[];
  heartbeats: unknown[];
  /** runIds whose events are answered `stale`. */
  stale: Set<string>;
  /** While true, every route answers 503, as an engine that is down. */
  down: boolean;
  /** While set, registrations are answered with this (a status and a body, or a body of this many bytes). */
  refuseRegistrations?: { status: number; body: unknown } | { junkBytes: number } | undefined;
  /** Answer the next `n` event posts with this status. */
  failNext(n: number, status?: number): void;
  posts: number;
  of(runId: string, type?: RunEvent['type']): RunEvent[];
  waitFor(predicate: (events: RunEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  let failures = 0;
  let failStatus = 500;
  const app = new Hono();
  const sink = {
    events: [] as RunEvent[],
    authorizations: [] as string[],
    registrations: [] as unknown[],
    heartbeats: [] as unknown[],
    stale: new Set<string>(),
    posts: 0,
    down: false,
    failNext(n: number, status = 500) {
      failures = n;
      failStatus = status;
    },
    of(runId: string, type?: RunEvent['type']) {
      return sink.events.filter((e) => e.runId === runId && (!type || e.type === type));
    },
    async waitFor(predicate: (events: RunEvent[]) => boolean, timeoutMs = 10_000) {
      await until(() => predicate(sink.events), 'the events awaited', {
        timeoutMs,
        everyMs: 10,
        detail: () => ({ have: sink.events }),
      });
    },
  };
  app.use(async (c, next) => {
    if (sink.down) return c.json({ error: { code: 'internal' } }, 503);
    await next();
  });
  app.post('/v1/events', async (c) => {
    sink.posts++;
    if (failures > 0) {
      failures--;
      const code = failStatus >= 500 ? 'internal' : 'invalid_request';
      return c.json({ error: { code, message: 'refused by the test engine' } }, failStatus as 500);
    }
    sink.authorizations.push(c.req.header('authorization') ?? '');
    const body = EventsBody.parse(await c.req.json());
    sink.events.push(...body.events);
    return c.json({ results: body.events.map((e) => (sink.stale.has(e.runId) ? 'stale' : 'ok')) });
  });
  app.put('/v1/workers', async (c) => {
    const refusal = (sink as Sink).refuseRegistrations;
    if (refusal && 'junkBytes' in refusal) return c.body('x'.repeat(refusal.junkBytes), 200);
    if (refusal) return c.json(refusal.body, refusal.status as 422);
    sink.registrations.push(await c.req.json());
    return c.json({ workerId: `w-${sink.registrations.length}` });
  });
  app.post('/v1/workers/:id/heartbeat', async (c) => {
    sink.heartbeats.push({ id: c.req.param('id'), ...(await c.req.json()) });
    return c.json({ ok: true });
  });

  const { server, port } = await listen(app.fetch);
  const url = `http://127.0.0.1:${port}`;
  return Object.assign(sink, {
    url,
    eventsUrl: `${url}/v1/events`,
    close: () => closeServer(server),
  });
}

export async function listen(
  fetch: (request: Request) => Response | Promise<Response>,
): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve({ server, port: info.port }),
    );
  });
}

export function closeServer(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}
