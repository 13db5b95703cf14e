// Declaring tasks: name, zod input schema, the function that runs, and its scheduling hints.
import { z } from 'zod';
import { TaskCron, TimeZone } from '../protocol/cron.ts';
import { EventTriggers } from '../protocol/event-name.ts';
import type { ReceivedEvent } from '../protocol/journal.ts';
import { ConcurrencySpec, type Labels, RateLimitSpec, type TaskManifest } from '../protocol/schemas.ts';
import type { ChildOptions, RunChildOptions, WaitForOptions } from './durable.ts';
import type { Logger } from './log.ts';

export interface TaskContext {
  runId: string;
  attempt: number;
  task: string;
  metadata: Record<string, unknown>;
  /** Fires on a cancel push, the timeout, a `stale` answer from the engine, or shutdown. `reason` says which. */
  signal: AbortSignal;
  /** Sends a heartbeat now; they are also sent automatically while the task runs. */
  heartbeat(): Promise<void>;
  /** Frees this run's slots before it returns (manual slot release); the run goes on. */
  releaseSlot(): void;
  /** Moves the timeout `ms` further away and tells the engine. */
  refreshTimeout(ms: number): void;
  log: Logger;
  /** The workflow run this run belongs to; undefined for a run of the task alone. */
  workflowRunId: string | undefined;
  /**
   * The output of `parent`, one of the task's `parents`, in this workflow run. Throws when the run has none (a run
   * of the task alone, or a task that is not a parent).
   */
  // biome-ignore lint/suspicious/noExplicitAny: any parent task, whatever its input.
  parentOutput<O>(parent: Task<any, O>): Promise<O>;
  /**
   * A durable step: runs `fn` once and records its result (JSON) with the engine; when the run is pushed again
   * after a suspension or a crash, returns the recorded result without running `fn`.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>>;
  /** Suspends the run for `ms`: its slots are freed, and the engine pushes it again when the time is up. */
  sleep(ms: number, name?: string): Promise<void>;
  /**
   * Suspends the run until an event of this name is published (its payload containing `filter`), or
   * `timeoutMs` passes: returns the event, or null on the timeout.
   */
  waitFor(event: string, options: WaitForOptions): Promise<ReceivedEvent | null>;
  /** Enqueues a run of `task` as this run's child, once per key however often this run is pushed. */
  spawn(task: AnyTask, input: unknown, options?: ChildOptions): Promise<{ runId: string }>;
  /**
   * Enqueues a child run and suspends until it ends, holding no slot: resolves to its output, or throws
   * `ChildRunFailed` when it failed, was cancelled or outlasted `timeoutMs`.
   */
  // biome-ignore lint/suspicious/noExplicitAny: any child task, whatever its input.
  runChild<O>(task: Task<any, O>, input: unknown, options?: RunChildOptions): Promise<O>;
  /**
   * Runs `fn` in an OpenTelemetry span named `name`, a child of the run's span (active while `fn` runs, so that
   * spans it starts nest under it), ended when `fn` settles. Without tracing on the worker, runs `fn` alone.
   */
  span<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>>;
}

export interface TaskOptions<S extends z.ZodType, O> {
  name: string;
  input: S;
  run: (input: z.output<S>, ctx: TaskContext) => O | Promise<O>;
  /** Execution timeout; default 60 s. An assignment's own `timeoutMs` wins. */
  timeoutMs?: number;
  /** How many times the engine retries a retryable failure; default 0. */
  retries?: number;
  /** Slot units one run holds; default 1. */
  slotCost?: number;
  /** Rate limits the engine holds every run to; a key may be a template on the input (`tenant:{input.id}`). */
  rateLimits?: z.input<typeof RateLimitSpec>[];
  /** Concurrency the engine holds every run to, unless the enqueue gives its own; the key may be a template. */
  concurrency?: z.input<typeof ConcurrencySpec>;
  description?: string;
  /**
   * Cron expressions (five fields, or six with seconds first, or `@daily` and the like) the engine runs the task
   * on, once per tick, when a worker serving it registers.
   */
  cron?: string[];
  /** The input of the runs the cron expressions enqueue; checked against `input` when the task is defined. */
  cronInput?: z.input<S>;
  /** The IANA time zone the cron expressions are read in; default UTC. */
  cronTimezone?: string;
  /** Event names the task runs on: each publish of one of them enqueues a run with the event's payload as input. */
  on?: string[];
  /** In a workflow: the tasks of the same workflow that must complete before this one runs. */
  parents?: AnyTask[];
}

export interface Task<S extends z.ZodType = z.ZodType, O = unknown> {
  name: string;
  input: S;
  run: (input: z.output<S>, ctx: TaskContext) => O | Promise<O>;
  timeoutMs: number;
  retries: number;
  slotCost: number;
  rateLimits?: RateLimitSpec[];
  concurrency?: ConcurrencySpec;
  description?: string;
  cron?: string[];
  cronInput?: unknown;
  cronTimezone?: string;
  on?: string[];
  parents?: AnyTask[];
}

// biome-ignore lint/suspicious/noExplicitAny: a list of tasks mixes input and output types.
export type AnyTask = Task<any, any>;

const TaskName = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'task names use letters, digits and _ . : -');
const Positive = z.number().int().positive();
const RateLimits = z.array(RateLimitSpec).max(10);

export function task<S extends z.ZodType, O>(options: TaskOptions<S, O>): Task<S, O> {
  TaskName.parse(options.name);
  if (options.cron !== undefined) {
    TaskCron.parse(options.cron);
    if (options.cronTimezone !== undefined) TimeZone.parse(options.cronTimezone);
    // Every tick would otherwise fail its run with invalid_input.
    options.input.parse(options.cronInput);
  }
  return {
    ...options,
    timeoutMs: Positive.parse(options.timeoutMs ?? 60_000),
    retries: z
      .number()
      .int()
      .min(0)
      .parse(options.retries ?? 0),
    slotCost: Positive.parse(options.slotCost ?? 1),
    rateLimits: options.rateLimits === undefined ? undefined : RateLimits.parse(options.rateLimits),
    concurrency: options.concurrency === undefined ? undefined : ConcurrencySpec.parse(options.concurrency),
    on: options.on === undefined ? undefined : EventTriggers.parse(options.on),
  };
}

/** Throw it from a task to fail the run for good: the engine does not retry it. */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
}

export function manifestOf(t: AnyTask): TaskManifest {
  return {
    name: t.name,
    inputSchema: z.toJSONSchema(t.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
    timeoutMs: t.timeoutMs,
    retries: t.retries,
    slotCost: t.slotCost,
    ...(t.rateLimits?.length ? { rateLimits: t.rateLimits } : {}),
    ...(t.concurrency ? { concurrency: t.concurrency } : {}),
    ...(t.cron?.length ? { cron: t.cron } : {}),
    ...(t.cron?.length && t.cronInput !== undefined ? { cronInput: t.cronInput } : {}),
    ...(t.cron?.length && t.cronTimezone ? { cronTimezone: t.cronTimezone } : {}),
    ...(t.on?.length ? { on: t.on } : {}),
  };
}

export type { Labels };
