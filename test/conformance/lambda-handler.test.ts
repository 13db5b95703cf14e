// The Lambda adapter's own surface: a trigger's path prefix, sync mode only, and the streaming handler.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handle, streamHandle } from '../../adapters/lambda.ts';
import { tasks } from '../../examples/tasks.ts';
import { createWorker, type Worker } from '../../src/index.ts';
import { assignment, batch, createPusher, type Pusher } from '../support/push.ts';
import { type Sink, startSink } from '../support/sink.ts';
import { lambdaContext, lambdaEvent, responseOf } from './targets/lambda-events.ts';
import { WORKER_NAME } from './targets/target.ts';

describe('lambda adapter', () => {
  let sink: Sink;
  let pusher: Pusher;
  let worker: Worker;
  beforeAll(async () => {
    sink = await startSink();
    pusher = await createPusher(WORKER_NAME);
    worker = createWorker({
      name: WORKER_NAME,
      tasks,
      keys: { jwks: pusher.jwks as never },
      engineUrl: sink.url,
      mode: 'sync',
      logLevel: 'error',
    });
  });
  afterAll(() => sink.close());

  const signedPush = async (path: string, body: string) => ({
    method: 'POST' as const,
    path,
    headers: { 'content-type': 'application/json', 'pushworker-signature': await pusher.sign(body) },
    body,
  });

  it('serves under the prefix an HTTP API stage puts in the path (basePath)', async () => {
    const handler = handle(worker, { basePath: '/prod' });
    const event = lambdaEvent('http-v2', { method: 'GET', path: '/prod/health', headers: {} });
    event.requestContext.stage = 'prod';
    const health = responseOf(await handler(event, lambdaContext()));
    expect(health.status).toBe(200);
    const a = assignment('echo', { message: 'staged' });
    const pushed = lambdaEvent('http-v2', await signedPush('/prod', batch(a)));
    const reply = responseOf(await handler(pushed, lambdaContext()));
    expect(JSON.parse(reply.text).results).toMatchObject([{ runId: a.runId, status: 'completed' }]);
    expect(sink.of(a.runId).map((e) => e.type)).toEqual(['started', 'completed']);
  });

  it('refuses a worker in async mode, whose runs would freeze with the process', () => {
    const async = createWorker({ name: 'x', tasks, keys: { secret: 's' }, logLevel: 'error' });
    expect(() => handle(async)).toThrow(TypeError);
  });

  it('streams the response (streamHandle), with every event flushed before the stream ends', async () => {
    // The Lambda Node runtime's `awslambda` global, as response streaming documents it.
    const written: { metadata?: unknown; chunks: Buffer[]; eventsAtEnd?: number } = { chunks: [] };
    const a = assignment('sleep', { ms: 120 });
    const stream = new Writable({
      write(chunk, _enc, done) {
        written.chunks.push(Buffer.from(chunk));
        done();
      },
      final(done) {
        written.eventsAtEnd = sink.of(a.runId).length;
        done();
      },
    });
    (globalThis as any).awslambda = {
      streamifyResponse: (fn: unknown) => fn,
      HttpResponseStream: {
        from(s: Writable, metadata: unknown) {
          written.metadata = metadata;
          return s;
        },
      },
    };
    try {
      const handler = streamHandle(worker) as any;
      const event = lambdaEvent('function-url', await signedPush('/', batch(a)));
      await handler(event, stream, lambdaContext());
      if (!stream.writableFinished) await new Promise((r) => stream.once('finish', r));
    } finally {
      delete (globalThis as any).awslambda;
    }
    expect(written.metadata).toMatchObject({ statusCode: 200 });
    const body = JSON.parse(Buffer.concat(written.chunks).toString('utf8'));
    expect(body.results).toMatchObject([{ runId: a.runId, status: 'completed', output: { sleptMs: 120 } }]);
    expect(written.eventsAtEnd).toBe(sink.of(a.runId).length);
    expect(sink.of(a.runId).at(-1)?.type).toBe('completed');
  });
});
