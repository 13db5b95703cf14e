// One trace from the client's enqueue to the task's own spans, across the engine (here) and a worker process.
import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { engineConfigFromEnv } from '../../src/engine/config.ts';
import { task } from '../../src/index.ts';
import { harnessPerTest, until } from '../support/engine.ts';
import { stopProcess } from '../support/process.ts';
import { inMemorySpans, startTracedWorker, type TracedWorker, WORKER } from './support/spans.ts';

const engineSpans = inMemorySpans();

describe('tracing', () => {
  const harness = harnessPerTest();
  let worker: TracedWorker | undefined;
  afterEach(async () => {
    await stopProcess(worker?.child, 'SIGKILL');
    worker = undefined;
  });

  it('makes one trace of the enqueue, the queue, the push, the run and the task’s own spans', async () => {
    const h = await harness.start({ tracing: true });
    await startTracedWorker(h, (w) => (worker = w));

    const checkout = trace.getTracer('client').startSpan('checkout');
    const { traceId, spanId } = checkout.spanContext();
    const { id } = await h.client.enqueue({
      task: 'charge',
      input: { cents: 1200 },
      traceparent: `00-${traceId}-${spanId}-01`,
    });
    const done = await h.client.waitRun(id, { timeoutMs: 20_000 });
    checkout.end();
    expect(done.state).toBe('COMPLETED');

    const spans = await until(() => {
      const all = [...engineSpans(), ...worker!.spans];
      const names = new Set(all.map((s) => s.name));
      const complete = [
        'pushworker.push',
        'pushworker.run',
        'charge.card',
        'charge.card.request',
        'checkout',
      ];
      return complete.every((name) => names.has(name)) && all;
    }, 'the spans of the engine and the worker');
    const byName = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0]!;
    };
    const enqueue = byName('pushworker.enqueue');
    const queue = byName('pushworker.queue');
    const push = byName('pushworker.push');
    const run = byName('pushworker.run');
    const own = byName('charge.card');
    const nested = byName('charge.card.request');

    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
    expect(enqueue.parentSpanId).toBe(spanId);
    expect(queue.parentSpanId).toBe(enqueue.spanId);
    expect(push.parentSpanId).toBe(enqueue.spanId);
    expect(run.parentSpanId).toBe(push.spanId);
    expect(own.parentSpanId).toBe(run.spanId);
    expect(nested.parentSpanId).toBe(own.spanId);
    const attributes = {
      'pushworker.run_id': id,
      'pushworker.task': 'charge',
      'pushworker.attempt': 1,
      'pushworker.worker': WORKER,
    };
    for (const span of [queue, push, run]) expect(span.attributes, span.name).toMatchObject(attributes);
  });

  it('starts the trace at the enqueue when the client gives none', async () => {
    const h = await harness.start({ tracing: engineConfigFromEnv({ PUSHWORKER_TRACING: 'true' }).tracing });
    await h.addWorker('in-process', { tracing: true });
    const { id } = await h.client.enqueue({ task: 'echo', input: { hello: 1 } });
    expect((await h.client.waitRun(id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');

    const spans = await until(() => {
      const all = engineSpans();
      return all.some((s) => s.name === 'pushworker.run') && all;
    }, 'the run span');
    const enqueue = spans.find((s) => s.name === 'pushworker.enqueue')!;
    expect(enqueue.parentSpanId).toBeUndefined();
    expect(enqueue.attributes).toMatchObject({ 'pushworker.run_id': id, 'pushworker.task': 'echo' });
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([enqueue.traceId]));
    const push = spans.find((s) => s.name === 'pushworker.push')!;
    expect(spans.find((s) => s.name === 'pushworker.run')!.parentSpanId).toBe(push.spanId);
  });

  it('puts a child run in its parent’s trace', async () => {
    const h = await harness.start({ tracing: true });
    const double = task({ name: 'double', input: z.number(), run: (n) => n * 2 });
    const parent = task({
      name: 'parent',
      input: z.number(),
      run: (n, ctx) => ctx.runChild(double, n, { key: 'double' }),
    });
    await h.addWorker('family', { tasks: [parent, double] });
    const { id } = await h.client.enqueue({ task: 'parent', input: 21 });
    expect(await h.client.waitRun(id, { timeoutMs: 20_000 })).toMatchObject({
      state: 'COMPLETED',
      output: 42,
    });

    const enqueues = await until(() => {
      const found = engineSpans().filter((s) => s.name === 'pushworker.enqueue');
      return found.length === 2 && found;
    }, 'the enqueue spans of the parent and the child');
    const root = enqueues.find((s) => s.attributes['pushworker.task'] === 'parent')!;
    const child = enqueues.find((s) => s.attributes['pushworker.task'] === 'double')!;
    expect(child.traceId).toBe(root.traceId);
    expect(child.parentSpanId).toBe(root.spanId);
  });

  it('refuses a traceparent that is not W3C', async () => {
    const h = await harness.start({ tracing: true });
    await expect(h.client.enqueue({ task: 'echo', traceparent: '00-abc-def-01' })).rejects.toMatchObject({
      code: 'invalid_request',
    });
  });
});
