// Tracing as pushworker uses it, free of `@opentelemetry/api`: that package is loaded only when tracing is on.
import { lazyPeer } from '../optional-peer.ts';
import { otelTracing } from './otel.ts';

/** The attributes of pushworker's spans. */
export const SpanAttributes = {
  runId: 'pushworker.run_id',
  task: 'pushworker.task',
  attempt: 'pushworker.attempt',
  worker: 'pushworker.worker',
  schedule: 'pushworker.schedule',
  scheduleTick: 'pushworker.schedule.tick',
  event: 'pushworker.event',
  eventName: 'pushworker.event_name',
  workflow: 'pushworker.workflow',
  workflowRunId: 'pushworker.workflow_run_id',
} as const;

export type Attributes = Record<string, string | number | boolean>;

export interface SpanOptions {
  /** The W3C traceparent of the parent span; none starts a new trace. */
  parent?: string | undefined;
  /** The W3C traceparents of spans this one is causally related to without being their child. */
  links?: string[];
  attributes?: Attributes;
  /** When the span began, in ms since the epoch; default now. */
  startTime?: number;
  /** `client` for a call to another service (a push); default internal. */
  kind?: 'client' | 'internal';
}

export interface TraceSpan {
  /** This span as a W3C traceparent: what a span started elsewhere names as its parent. */
  readonly traceparent: string;
  set(attributes: Attributes): void;
  /** Marks the span as failed with `message`. */
  fail(message: string): void;
  end(at?: number): void;
  /** Runs `fn` with this span active, so that spans the code starts nest under it. */
  within<T>(fn: () => T): T;
  /** Runs `fn` in a child span of this one (active while `fn` runs), ended when it settles; a throw fails it. */
  child<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>>;
}

export interface Tracing {
  start(name: string, options?: SpanOptions): TraceSpan;
}

// A specifier bundlers do not follow: a bundled worker neither needs nor carries the package unless it is traced.
const OTEL_API = '@opentelemetry/api';

/** The OpenTelemetry tracing, loaded on first use; spans go to the globally registered tracer provider. */
export const loadTracing: () => Promise<Tracing> = lazyPeer(OTEL_API, 'tracing', async () =>
  otelTracing(await import(/* @vite-ignore */ OTEL_API)),
);
