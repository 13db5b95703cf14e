// The engine's spans: the enqueue, each attempt's time in the queue, and its push to a worker.
import { SpanAttributes, type TraceSpan, type Tracing } from '../tracing/tracing.ts';
import type { RunRecord, WorkerRecord } from './store/records.ts';

export class EngineTracing {
  constructor(private readonly tracing: Tracing) {}

  /** The span of one run's enqueue, a child of the caller's span when `traceparent` names one. */
  enqueue(task: string, traceparent: string | undefined): TraceSpan {
    return this.tracing.start('pushworker.enqueue', {
      parent: traceparent,
      attributes: { [SpanAttributes.task]: task },
    });
  }

  /**
   * Records the attempt's time in the queue (from its enqueue, or from when a retry came due) and starts its
   * push, both under the run's enqueue span; the push span is the parent of the worker's run span. None for a run
   * enqueued while tracing was off.
   */
  push(run: RunRecord, worker: WorkerRecord, now: number): TraceSpan | undefined {
    if (!run.traceparent) return undefined;
    const attributes = {
      [SpanAttributes.runId]: run.id,
      [SpanAttributes.task]: run.task,
      [SpanAttributes.attempt]: run.attempt,
      [SpanAttributes.worker]: worker.name,
    };
    const queuedSince = run.attempt === 1 ? run.createdAt : run.availableAt;
    this.tracing
      .start('pushworker.queue', {
        parent: run.traceparent,
        attributes,
        startTime: Math.min(queuedSince, now),
      })
      .end(now);
    return this.tracing.start('pushworker.push', { parent: run.traceparent, attributes, kind: 'client' });
  }
}
