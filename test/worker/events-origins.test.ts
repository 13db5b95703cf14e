// A signed push cannot send a worker's token elsewhere: an eventsUrl off the engine's origin is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/index.ts';
import { type Sink, startSink } from '../support/sink.ts';
import { until } from '../support/until.ts';
import { type Harness, startHarness } from '../support/worker.ts';

let h: Harness;
let elsewhere: Sink;
let trusted: Sink;

beforeAll(async () => {
  elsewhere = await startSink();
  trusted = await startSink();
  h = await startHarness({ eventsOrigins: [trusted.url] });
});
afterAll(async () => {
  await h?.close();
  await elsewhere?.close();
  await trusted?.close();
});

const assignment = (runId: string, eventsUrl?: string) =>
  JSON.stringify({
    v: 1,
    assignments: [
      { runId, attempt: 1, task: 'echo', input: { message: runId }, ...(eventsUrl ? { eventsUrl } : {}) },
    ],
  });

describe('the events URL of an assignment', () => {
  it('is refused, running nothing and sending nothing, when it is on another origin', async () => {
    const res = await h.pusher.send(h.url, assignment('r-elsewhere', elsewhere.eventsUrl));
    expect(res.status).toBe(202);
    expect(res.json).toEqual({
      accepted: [],
      rejected: [{ runId: 'r-elsewhere', attempt: 1, reason: 'untrusted_events_url' }],
    });
    expect(h.probe.ran).not.toContain('r-elsewhere');
    await h.worker.flush(1_000);
    expect(elsewhere.posts).toBe(0);
    expect(elsewhere.authorizations).toEqual([]);
    expect(h.logs.some((l) => l.includes('runId=r-elsewhere') && l.includes('eventsUrl'))).toBe(true);
  });

  it("is taken on the engine's origin and on an origin the worker is told to trust", async () => {
    for (const [runId, sink] of [
      ['r-engine', h.sink],
      ['r-trusted', trusted],
    ] as const) {
      const res = await h.pusher.send(h.url, assignment(runId, sink.eventsUrl));
      expect(res.json.accepted).toEqual([{ runId, attempt: 1 }]);
      await until(() => sink.of(runId, 'completed').length === 1, `${runId} to complete`);
    }
  });

  it('reads PUSHWORKER_EVENTS_ORIGINS, and refuses an entry that is not a URL', () => {
    const env = { PUSHWORKER_EVENTS_ORIGINS: 'https://engine.example, https://other.example:8443' };
    expect(configFromEnv(env).eventsOrigins).toEqual([
      'https://engine.example',
      'https://other.example:8443',
    ]);
    expect(() => configFromEnv({ PUSHWORKER_EVENTS_ORIGINS: 'engine.example' })).toThrow(/not a URL/);
  });
});
