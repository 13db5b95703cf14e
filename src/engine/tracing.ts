// The engine's spans: what enqueues a run (the API, a schedule tick, an event, a workflow run, a retry), each
// attempt's time in the queue, and its push to a worker.
import { SpanAttributes, type TraceSpan, type Tracing } from '../tracing/tracing.ts';
import type { RunRecord, WorkerRecord } from './store/records.ts';
import type { ScheduleRecord } from './store/schedules.ts';
import type { WorkflowRunRecord } from './store/workflow-runs.ts';

export class EngineTracing {
  constructor(private readonly tracing: Tracing) {}

  /** The span of one run's enqueue, a child of the caller's span when `traceparent` names one. */
  enqueue(task: string, traceparent: string | undefined): TraceSpan {
    return this.tracing.start('pushworker.enqueue', {
      parent: traceparent,
      attributes: { [SpanAttributes.task]: task },
    });
  }

  /** The root span of one tick of a schedule: its run's spans descend from it. */
  scheduleFire(schedule: ScheduleRecord, tick: number): TraceSpan {
    return this.tracing.start('pushworker.schedule.fire', {
      attributes: {
        [SpanAttributes.schedule]: schedule.name,
        [SpanAttributes.scheduleTick]: new Date(tick).toISOString(),
        [SpanAttributes.task]: schedule.task,
      },
    });
  }

  /** The span of one event's publish, a child of the caller's span: every run it enqueues descends from it. */
  publish(eventName: string, traceparent: string | undefined): TraceSpan {
    return this.tracing.start('pushworker.event.publish', {
      parent: traceparent,
      attributes: { [SpanAttributes.eventName]: eventName },
    });
  }

  /** The span of a workflow run's enqueue, the parent of every task run of its DAG. */
  workflowEnqueue(workflow: string, traceparent: string | undefined): TraceSpan {
    return this.tracing.start('pushworker.workflow.enqueue', {
      parent: traceparent,
      attributes: { [SpanAttributes.workflow]: workflow },
    });
  }

  /**
   * The span of a manual retry, a child of the caller's span (a new trace without one) that links to the run's
   * earlier trace. A link, not a child of the old trace: OpenTelemetry recommends links for an operation that a
   * different request causes later (the retry is asked for by its own caller, perhaps days after the first trace
   * ended), which keeps each trace one request long rather than growing the first without bound.
   */
  retry(run: RunRecord, traceparent: string | undefined): TraceSpan {
    return this.tracing.start('pushworker.retry', {
      parent: traceparent,
      ...(run.traceparent ? { links: [run.traceparent] } : {}),
      attributes: { [SpanAttributes.runId]: run.id, [SpanAttributes.task]: run.task },
    });
  }

  /** A workflow run's retry: the same, for the task runs it queues again and those below them. */
  workflowRetry(run: WorkflowRunRecord, traceparent: string | undefined): TraceSpan {
    return this.tracing.start('pushworker.workflow.retry', {
      parent: traceparent,
      ...(run.traceparent ? { links: [run.traceparent] } : {}),
      attributes: { [SpanAttributes.workflowRunId]: run.id, [SpanAttributes.workflow]: run.workflow },
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

/**
 * Runs `fn` with the traceparent the runs it enqueues carry: `span`'s when tracing is on, else the caller's as it
 * was given (passed on to the workers unchanged). The span ends when `fn` settles, failed by a throw.
 */
export async function withinSpan<T>(
  span: TraceSpan | undefined,
  given: string | undefined,
  fn: (traceparent: string | undefined) => Promise<T>,
): Promise<T> {
  if (!span) return fn(given);
  try {
    return await fn(span.traceparent);
  } catch (error) {
    span.fail(String((error as Error)?.message ?? error));
    throw error;
  } finally {
    span.end();
  }
}
