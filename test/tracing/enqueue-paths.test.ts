// One trace for each way a run is enqueued besides the API's: a schedule's tick, a published event, a workflow
// run and a manual retry, across the engine (here) and a worker process.
import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonRetryableError, task, workflow } from '../../src/index.ts';
import { API_TOKEN, type Harness, harnessPerTest, until } from '../support/engine.ts';
import { stopProcess } from '../support/process.ts';
import {
  type ExportedSpan,
  inMemorySpans,
  only,
  startTracedWorker,
  type TracedWorker,
} from './support/spans.ts';

const engineSpans = inMemorySpans();

/** A client's span, and its traceparent to send. */
function callerSpan(name: string) {
  const span = trace.getTracer('client').startSpan(name);
  const { traceId, spanId } = span.spanContext();
  return { span, traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/**
 * Every span of the run's attempts, once each attempt's worker run span has arrived: the engine's queue and push
 * spans and the worker's run span.
 */
function runSpans(all: ExportedSpan[], runId: string): ExportedSpan[] {
  return all.filter((s) => s.attributes['pushworker.run_id'] === runId && s.name !== 'pushworker.retry');
}

/** The run's queue and push spans are children of `parent`, and the worker's run span a child of the push. */
function expectRunUnder(all: ExportedSpan[], runId: string, parent: ExportedSpan): void {
  const spans = runSpans(all, runId);
  const queue = only(spans, 'pushworker.queue');
  const push = only(spans, 'pushworker.push');
  const run = only(spans, 'pushworker.run');
  expect(queue.parentSpanId, 'queue').toBe(parent.spanId);
  expect(push.parentSpanId, 'push').toBe(parent.spanId);
  expect(run.parentSpanId, 'run').toBe(push.spanId);
  for (const span of [queue, push, run]) expect(span.traceId, span.name).toBe(parent.traceId);
}

/** The spans of the engine and the worker once `runIds` each have a worker run span. */
function spansOnceRun(worker: TracedWorker, runIds: string[]): Promise<ExportedSpan[]> {
  return until(
    () => {
      const all = [...engineSpans(), ...worker.spans];
      const ran = (id: string) =>
        all.some((s) => s.name === 'pushworker.run' && s.attributes['pushworker.run_id'] === id);
      return runIds.every(ran) && all;
    },
    `the spans of runs ${runIds.join(', ')}`,
  );
}

describe('tracing the ways a run is enqueued', () => {
  const harness = harnessPerTest();
  let worker: TracedWorker | undefined;
  afterEach(async () => {
    await stopProcess(worker?.child, 'SIGKILL');
    worker = undefined;
  });

  async function start(): Promise<{ h: Harness; worker: TracedWorker }> {
    const h = await harness.start({ tracing: true });
    return { h, worker: await startTracedWorker(h, (w) => (worker = w)) };
  }

  it('starts a trace at a schedule’s tick, which its run carries', async () => {
    const { h, worker } = await start();
    await h.client.createSchedule({ name: 'each-second', task: 'report', cron: '* * * * * *' });
    const runId = await until(async () => {
      const { runs } = await h.client.listRuns({ task: 'report', state: ['COMPLETED'] });
      return runs[0]?.id;
    }, 'a completed run of the schedule');
    await h.client.deleteSchedule('each-second');

    const all = await spansOnceRun(worker, [runId]);
    const fire = all.find(
      (s) => s.name === 'pushworker.schedule.fire' && s.attributes['pushworker.run_id'] === runId,
    )!;
    expect(fire.parentSpanId).toBeUndefined();
    expect(fire.attributes).toMatchObject({
      'pushworker.schedule': 'each-second',
      'pushworker.task': 'report',
    });
    expect(fire.attributes['pushworker.schedule.tick']).toMatch(/^\d{4}-\d\d-\d\dT/);
    expectRunUnder(all, runId, fire);
    const inTrace = all.filter((s) => s.traceId === fire.traceId).map((s) => s.name);
    expect(inTrace.sort()).toEqual([
      'pushworker.push',
      'pushworker.queue',
      'pushworker.run',
      'pushworker.schedule.fire',
    ]);
  });

  it('puts every run an event triggers in the trace of its publish, a child of the caller’s span', async () => {
    const { h, worker } = await start();
    const caller = callerSpan('place-order');
    const event = await h.client.publish(
      { name: 'order.placed', payload: { orderId: 'o-1' } },
      { traceparent: caller.traceparent },
    );
    expect(event.runs.map((r) => r.task).sort()).toEqual(['bill', 'ship']);
    for (const run of event.runs) {
      expect((await h.client.waitRun(run.id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    }
    caller.span.end();

    const all = await spansOnceRun(
      worker,
      event.runs.map((r) => r.id),
    );
    const publish = only(all, 'pushworker.event.publish');
    expect(publish.traceId).toBe(caller.traceId);
    expect(publish.parentSpanId).toBe(caller.spanId);
    expect(publish.attributes).toMatchObject({
      'pushworker.event': event.id,
      'pushworker.event_name': 'order.placed',
    });
    for (const run of event.runs) expectRunUnder(all, run.id, publish);
    expect(new Set(all.map((s) => s.traceId))).toEqual(new Set([caller.traceId]));
  });

  it('refuses a traceparent header that is not W3C', async () => {
    const h = await harness.start({ tracing: true });
    const response = await fetch(`${h.url}/v1/events/publish`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_TOKEN}`,
        'content-type': 'application/json',
        traceparent: '00-abc-def-01',
      },
      body: JSON.stringify({ name: 'order.placed', payload: {} }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_request' } });
    expect((await h.client.listRuns({})).runs).toEqual([]);
  });

  it('makes a workflow run one trace under the caller’s span: its enqueue span is the parent of every task run', async () => {
    const { h, worker } = await start();
    const caller = callerSpan('fulfil-order');
    const enqueued = await h.client.runWorkflow(
      { workflow: 'fulfil', input: { orderId: 'o-2' } },
      { traceparent: caller.traceparent },
    );
    const done = await h.client.waitWorkflowRun(enqueued.id, { timeoutMs: 20_000 });
    expect(done.state).toBe('COMPLETED');
    const runIds = done.tasks.map((t) => t.runId!);
    expect(runIds).toHaveLength(3);

    const all = await spansOnceRun(worker, runIds);
    const root = only(all, 'pushworker.workflow.enqueue');
    expect(root.traceId).toBe(caller.traceId);
    expect(root.parentSpanId).toBe(caller.spanId);
    expect(root.attributes).toMatchObject({
      'pushworker.workflow': 'fulfil',
      'pushworker.workflow_run_id': enqueued.id,
    });
    for (const id of runIds) expectRunUnder(all, id, root);
    expect(new Set(all.map((s) => s.traceId))).toEqual(new Set([root.traceId]));
    expect(
      all.filter((s) => s.name === 'pushworker.run').map((s) => s.attributes['pushworker.task']),
    ).toEqual(['fulfil.pick', 'fulfil.pack', 'fulfil.send']);
  });

  it('gives a retried run a trace of its own, linked to its first', async () => {
    const h = await harness.start({ tracing: true });
    await h.addWorker('in-process', { tracing: true });
    const { id } = await h.client.enqueue({ task: 'echo', input: 1 });
    expect((await h.client.waitRun(id, { timeoutMs: 20_000 })).state).toBe('COMPLETED');
    const first = await until(
      () => engineSpans().find((s) => s.name === 'pushworker.enqueue'),
      'the enqueue',
    );

    const operator = callerSpan('operator');
    const response = await fetch(`${h.url}/v1/runs/${id}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, traceparent: operator.traceparent },
    });
    expect(response.status).toBe(200);
    const again = await h.client.waitRun(id, { timeoutMs: 20_000 });
    expect(again).toMatchObject({ state: 'COMPLETED', attempt: 2 });
    operator.span.end();

    const all = await until(() => {
      const spans = engineSpans();
      const ran = spans.filter(
        (s) => s.name === 'pushworker.run' && s.attributes['pushworker.attempt'] === 2,
      );
      return ran.length === 1 && spans;
    }, 'the second attempt’s run span');
    const retry = only(all, 'pushworker.retry');
    expect(retry.traceId).toBe(operator.traceId);
    expect(retry.parentSpanId).toBe(operator.spanId);
    expect(retry.links).toEqual([first.spanId]);
    expect(retry.attributes).toMatchObject({ 'pushworker.run_id': id, 'pushworker.task': 'echo' });
    const second = all.filter((s) => s.attributes['pushworker.attempt'] === 2);
    expectRunUnder(second, id, retry);
    expect(first.traceId).not.toBe(operator.traceId);
  });

  it('gives a retried workflow run’s task runs the retry’s trace, under the operator’s span and linked to the first', async () => {
    const h = await harness.start({ tracing: true });
    let failures = 1;
    const flaky = task({
      name: 'flaky',
      input: z.unknown(),
      run: () => {
        if (failures-- > 0) throw new NonRetryableError('not yet');
        return 'ok';
      },
    });
    const after = task({ name: 'after', input: z.unknown(), parents: [flaky], run: () => 'after' });
    await h.addWorker('in-process', {
      tracing: true,
      workflows: [workflow({ name: 'flow', tasks: [flaky, after] })],
    });
    const { id } = await h.client.runWorkflow({ workflow: 'flow', input: {} });
    expect((await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 })).state).toBe('FAILED');
    const first = only(engineSpans(), 'pushworker.workflow.enqueue');

    const operator = callerSpan('operator');
    await h.client.retryWorkflowRun(id, { traceparent: operator.traceparent });
    const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
    expect(done.state).toBe('COMPLETED');
    const [flakyRun, afterRun] = done.tasks.map((t) => t.runId!);

    const all = await until(() => {
      const spans = engineSpans();
      const ran = (id: string) =>
        spans.filter((s) => s.name === 'pushworker.run' && s.attributes['pushworker.run_id'] === id).length;
      return ran(flakyRun!) === 2 && ran(afterRun!) === 1 && spans;
    }, 'the run spans after the retry');
    const retry = only(all, 'pushworker.workflow.retry');
    expect(retry.traceId).toBe(operator.traceId);
    expect(retry.parentSpanId).toBe(operator.spanId);
    expect(retry.links).toEqual([first.spanId]);
    expect(retry.attributes).toMatchObject({
      'pushworker.workflow_run_id': id,
      'pushworker.workflow': 'flow',
    });
    expectRunUnder(
      all.filter((s) => s.attributes['pushworker.attempt'] === 2),
      flakyRun!,
      retry,
    );
    expectRunUnder(all, afterRun!, retry);
  });
});
