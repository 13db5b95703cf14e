// A worker's run spans: each run's, a child of the span its assignment names (the engine's push).
import type { Assignment } from '../protocol/schemas.ts';
import { loadTracing, SpanAttributes, type TraceSpan, type Tracing } from '../tracing/tracing.ts';

export class RunTracing {
  private readonly tracing: Promise<Tracing>;

  constructor(private readonly worker: string) {
    this.tracing = loadTracing();
    // A missing `@opentelemetry/api` fails each run that starts, saying what to install; not the process.
    this.tracing.catch(() => {});
  }

  async start(assignment: Assignment): Promise<TraceSpan> {
    return (await this.tracing).start('pushworker.run', {
      parent: assignment.traceparent,
      attributes: {
        [SpanAttributes.runId]: assignment.runId,
        [SpanAttributes.task]: assignment.task,
        [SpanAttributes.attempt]: assignment.attempt,
        [SpanAttributes.worker]: this.worker,
      },
    });
  }
}

/** `ctx.span` of a run that is not traced: `fn` alone. */
export async function untraced<T>(fn: () => T | Promise<T>): Promise<Awaited<T>> {
  return await fn();
}
