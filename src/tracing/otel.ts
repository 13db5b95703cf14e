// Tracing through `@opentelemetry/api`, given the loaded module: this file imports only its types.
import type * as Api from '@opentelemetry/api';
import type { Context, Link, Span, SpanContext } from '@opentelemetry/api';
import type { SpanOptions, TraceSpan, Tracing } from './tracing.ts';

const TRACER_NAME = 'pushworker';

/** Tracing on the tracer provider `api` has registered globally. */
export function otelTracing(api: typeof Api): Tracing {
  const { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } = api;

  /** The remote span a traceparent names; none for a missing one. */
  function spanContextOf(traceparent: string | undefined): SpanContext | undefined {
    const [, traceId, spanId, flags] = traceparent?.split('-') ?? [];
    if (!traceId || !spanId || !flags) return undefined;
    return { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
  }

  /** The context a traceparent names as the parent; the root for a missing one. */
  function parentContext(traceparent: string | undefined): Context {
    const parent = spanContextOf(traceparent);
    return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
  }

  function traceparentOf(span: Span): string {
    const { traceId, spanId, traceFlags } = span.spanContext();
    return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
  }

  class OtelSpan implements TraceSpan {
    readonly traceparent: string;
    private readonly active: Context;

    constructor(private readonly span: Span) {
      this.traceparent = traceparentOf(span);
      this.active = trace.setSpan(context.active(), span);
    }

    set(attributes: Record<string, string | number | boolean>): void {
      this.span.setAttributes(attributes);
    }

    fail(message: string): void {
      this.span.setStatus({ code: SpanStatusCode.ERROR, message });
    }

    end(at?: number): void {
      this.span.end(at);
    }

    within<T>(fn: () => T): T {
      return context.with(this.active, fn);
    }

    child<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>> {
      const tracer = trace.getTracer(TRACER_NAME);
      return tracer.startActiveSpan(name, {}, this.active, async (span): Promise<Awaited<T>> => {
        try {
          return await fn();
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: String((error as Error)?.message ?? error) });
          throw error;
        } finally {
          span.end();
        }
      });
    }
  }

  return {
    start(name: string, options: SpanOptions = {}): TraceSpan {
      const links = (options.links ?? []).flatMap((l): Link[] => {
        const linked = spanContextOf(l);
        return linked ? [{ context: linked }] : [];
      });
      const span = trace.getTracer(TRACER_NAME).startSpan(
        name,
        {
          kind: options.kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL,
          ...(options.attributes ? { attributes: options.attributes } : {}),
          ...(options.startTime !== undefined ? { startTime: options.startTime } : {}),
          ...(links.length > 0 ? { links } : {}),
        },
        parentContext(options.parent),
      );
      return new OtelSpan(span);
    },
  };
}
