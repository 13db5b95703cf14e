// The worker says what happened to each run: failures with their error, refusals with their cause, and (at the
// level chosen) each run's start and end; a failed run's error carries its stack to the engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { serve } from '../../adapters/node.ts';
import { createLogger, createWorker, task } from '../../src/index.ts';
import { createPusher, type Pusher } from '../support/push.ts';
import { type Sink, startSink } from '../support/sink.ts';
import { until } from '../support/until.ts';

const lines: string[] = [];
let sink: Sink;
let pusher: Pusher;
let url: string;
let close: () => Promise<void>;

const tasks = [
  task({
    name: 'crash',
    input: z.object({}),
    run: () => {
      (undefined as unknown as { x: number }).x;
    },
  }),
  task({ name: 'slow', input: z.object({}), timeoutMs: 50, run: () => new Promise(() => {}) }),
  task({ name: 'typed', input: z.object({ n: z.number() }), run: ({ n }) => n }),
];

beforeAll(async () => {
  sink = await startSink();
  pusher = await createPusher('logs');
  const worker = createWorker({
    name: 'logs',
    tasks,
    keys: { jwks: pusher.jwks },
    engineUrl: sink.url,
    token: 'pww_t',
    logger: createLogger('debug', (line) => lines.push(line)),
    logRuns: 'info',
    shutdownGraceMs: 100,
  });
  const served = await serve(worker, { port: 0, hostname: '127.0.0.1', start: false, handleSignals: false });
  url = served.url;
  close = served.close;
});
afterAll(async () => {
  await close?.();
  await sink?.close();
});

const push = (runId: string, name: string, input: unknown) =>
  pusher.send(url, JSON.stringify({ v: 1, assignments: [{ runId, attempt: 1, task: name, input }] }));

const lineFor = (runId: string, pattern: RegExp) =>
  until(() => lines.find((l) => l.includes(`runId=${runId}`) && pattern.test(l)), `a line for ${runId}`, {
    timeoutMs: 5_000,
    detail: () => lines.join('\n'),
  });

describe('the worker log', () => {
  it('says that a task threw, with the error, and sends the stack with the failed event', async () => {
    await push('r-crash', 'crash', {});
    expect(
      await lineFor('r-crash', /\[WARN\].*run failed: TypeError: Cannot read properties of undefined/),
    ).toContain('task=crash');
    await sink.waitFor((events) => events.some((e) => e.runId === 'r-crash' && e.type === 'failed'));
    const failed = sink.of('r-crash', 'failed')[0] as { error: { stack?: string } };
    expect(failed.error.stack).toMatch(/^TypeError: Cannot read properties of undefined[\s\S]*at /);
  });

  it('says that a run timed out', async () => {
    await push('r-slow', 'slow', {});
    expect(await lineFor('r-slow', /\[WARN\].*run failed: TimeoutError/)).toContain('retryable=true');
  });

  it('says that an input was refused by the task schema, with the issues', async () => {
    const answer = await push('r-typed', 'typed', { n: 'three' });
    expect(answer.json.rejected[0].reason).toBe('invalid_input');
    expect(await lineFor('r-typed', /\[WARN\].*run refused: the input does not match/)).toContain('issues=');
  });

  it('logs each run start and end with its duration at the level chosen', async () => {
    await push('r-ok', 'typed', { n: 3 });
    await lineFor('r-ok', /\[INFO\].*run started/);
    expect(await lineFor('r-ok', /\[INFO\].*run completed/)).toMatch(/ms=\d+/);
  });
});
