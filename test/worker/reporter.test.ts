// The event reporter against a slow engine on loopback: several posts in flight, one run's events in order.
import { Hono } from 'hono';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../src/node/fetch.ts';
import { EventsBody, type RunEvent } from '../../src/protocol/schemas.ts';
import { createLogger } from '../../src/worker/log.ts';
import { EventReporter } from '../../src/worker/reporter.ts';
import { closeServer, listen } from '../support/sink.ts';

const transports: [string, typeof fetch | undefined][] = [
  ['fetch', undefined],
  ['nodeFetch, the Node adapter’s fetch', nodeFetch],
];

describe.each(transports)('event reporter over %s', (_, transport) => {
  let url: string;
  let close: () => Promise<void>;
  let inFlight = 0;
  let maxInFlight = 0;
  let posts = 0;
  let hangNext = 0;
  const applied: RunEvent[] = [];
  beforeEach(() => {
    applied.length = 0;
  });

  beforeAll(async () => {
    const app = new Hono().post('/v1/events', async (c) => {
      const { events } = EventsBody.parse(await c.req.json());
      if (hangNext > 0) {
        hangNext--;
        await new Promise((r) => setTimeout(r, 5_000));
      }
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      // A busy engine whose answers overtake each other: every other post takes much longer.
      await new Promise((r) => setTimeout(r, ++posts % 2 ? 40 : 5));
      inFlight--;
      applied.push(...events);
      return c.json({ results: events.map(() => 'ok') });
    });
    const { server, port } = await listen(app.fetch);
    url = `http://127.0.0.1:${port}/v1/events`;
    close = () => closeServer(server);
  });
  afterAll(() => close());

  const event = (runId: string, type: 'started' | 'heartbeat' | 'completed'): RunEvent =>
    type === 'completed'
      ? { runId, attempt: 1, at: new Date().toISOString(), type, output: null }
      : { runId, attempt: 1, at: new Date().toISOString(), type };

  it('keeps several posts in flight, never more than allowed, and posts each run’s events in order', async () => {
    const reporter = new EventReporter({ log: createLogger('error'), maxInFlight: 3, fetch: transport });
    const outcomes: Promise<unknown>[] = [];
    // Events raised over several ticks while earlier posts are still being answered.
    for (let tick = 0; tick < 12; tick++) {
      for (const run of ['a', 'b', 'c', `x${tick}`]) {
        const type = tick === 0 ? 'started' : tick === 11 ? 'completed' : 'heartbeat';
        outcomes.push(reporter.report(url, event(run, type)));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await reporter.flush(10_000)).toBe(true);
    expect(await Promise.all(outcomes)).toEqual(outcomes.map(() => 'ok'));
    expect(applied).toHaveLength(48);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(3);
    for (const run of ['a', 'b', 'c']) {
      const types = applied.filter((e) => e.runId === run).map((e) => e.type);
      expect(types).toEqual(['started', ...Array(10).fill('heartbeat'), 'completed']);
    }
  });

  it('gives up on a post the engine leaves unanswered, and delivers its events with the next', async () => {
    hangNext = 1;
    const failures: string[] = [];
    const reporter = new EventReporter({
      log: createLogger('error'),
      fetch: transport,
      requestTimeoutMs: 200,
      retryBaseMs: 10,
      onFailure: (kind) => failures.push(kind),
    });
    const outcome = reporter.report(url, event('slow', 'completed'));
    expect(await outcome).toBe('ok');
    expect(failures).toEqual(['retry']);
    expect(applied.filter((e) => e.runId === 'slow')).toHaveLength(1);
  });
});
