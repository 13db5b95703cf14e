// The client's bounds against an engine that misbehaves on loopback: a deadline per call and a capped answer.
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type RunView } from '../../src/client/index.ts';
import { type HostileServer, hostileServer, streamJson } from '../support/hostile.ts';
import { until } from '../support/until.ts';

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as { code?: string; message?: string },
  );

describe('client bounds', () => {
  it('gives up on a call the engine does not answer within timeoutMs, with code timeout', async () => {
    server = await hostileServer(() => {});
    const client = createClient({ url: server.url, token: 't', timeoutMs: 200 });
    const failure = await failureOf(client.taskStats());
    expect(failure).toMatchObject({
      code: 'timeout',
      message: 'the engine did not answer GET /v1/stats/tasks within 200 ms',
    });
  });

  it('reads no more than maxAnswerBytes of an answer, and says so with too_large', async () => {
    server = await hostileServer(streamJson(50 * 1024 * 1024));
    const client = createClient({ url: server.url, token: 't', maxAnswerBytes: 1024 * 1024 });
    const failure = await failureOf(client.listWorkers());
    expect(failure).toMatchObject({ code: 'too_large' });
    expect(failure?.message).toBe("the engine's answer to GET /v1/workers is over 1048576 bytes");
    await until(() => server!.answers[0]?.closed === true, 'the answer to be cut off');
    expect(server.answers[0]!.cut).toBe(true);
    expect(server.answers[0]!.bytes).toBeLessThan(8 * 1024 * 1024);
  });

  it('gives a long poll its wait beyond the deadline, and a caller’s abort stays an abort', async () => {
    server = await hostileServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(runView));
      }, 400);
    });
    const client = createClient({ url: server.url, token: 't', timeoutMs: 200 });
    const run = await client.waitRun('run_1', { timeoutMs: 1_000 });
    expect(run).toMatchObject({ id: 'run_1', state: 'COMPLETED' });

    const aborted = new AbortController();
    const waiting = failureOf(client.waitRun('run_1', { timeoutMs: 1_000, signal: aborted.signal }));
    aborted.abort();
    expect(await waiting).toMatchObject({ name: 'AbortError' });
  });
});

const at = new Date().toISOString();
const runView: RunView = {
  id: 'run_1',
  task: 'echo',
  state: 'COMPLETED',
  attempt: 1,
  failures: 0,
  priority: 0,
  input: {},
  output: {},
  workerId: 'w-1',
  idempotencyKey: null,
  createdAt: at,
  startedAt: at,
  finishedAt: at,
};
