// zod schemas for every message of the wire contract (docs/protocol.md); types are inferred from them.
import { z } from 'zod';
import { TaskCron, TimeZone } from './cron.ts';
import { EventTriggers } from './event-name.ts';
import { Journal, Suspension } from './journal.ts';
import { KeyTemplate } from './key-template.ts';
import { Traceparent } from './traceparent.ts';
import { WorkflowManifest } from './workflow-manifest.ts';

export const PROTOCOL_VERSION = 1;

/** Whole numbers a 32-bit integer column holds: counts, attempts and durations in ms on the wire. */
export const int32 = () =>
  z
    .number()
    .int()
    .max(2 ** 31 - 1);
/** Longest push token lifetime a worker accepts (`exp - iat`). */
export const MAX_PUSH_TTL_S = 300;

const runRef = { runId: z.string().min(1).max(200), attempt: int32().min(1) };
export const RunRef = z.object(runRef);
export type RunRef = z.infer<typeof RunRef>;

export const Assignment = z.object({
  ...runRef,
  task: z.string().min(1).max(200),
  input: z.unknown(),
  timeoutMs: int32().positive().optional(),
  slotCost: int32().min(1).default(1),
  metadata: z.record(z.string(), z.unknown()).optional(),
  eventsUrl: z.url().optional(),
  /** A workflow task's run: the workflow run it belongs to. */
  workflowRunId: z.string().min(1).max(200).optional(),
  /** A workflow task's run: the output of each of its parents, by task name. */
  parents: z.record(z.string(), z.unknown()).optional(),
  /** A durable run pushed again: its steps' results and its suspensions so far (see docs/protocol.md). */
  journal: Journal.optional(),
  /** The W3C traceparent the run's span is a child of, when the run is traced. */
  traceparent: Traceparent.optional(),
});
export type Assignment = z.infer<typeof Assignment>;

/** Longest an engine may let a worker hold its runs' events for the push's answer. */
export const MAX_ANSWER_WITHIN_MS = 1000;
export const AssignPush = z.object({
  v: z.literal(PROTOCOL_VERSION),
  /**
   * The engine takes events in the answer: the worker may wait this long for the push's runs to end and carry the
   * events of those that did in its answer, in place of posting them.
   */
  answerWithinMs: int32().min(1).max(MAX_ANSWER_WITHIN_MS).optional(),
  assignments: z.array(Assignment).min(1).max(1000),
});
export type AssignPush = z.infer<typeof AssignPush>;
export const CancelPush = z.object({
  v: z.literal(PROTOCOL_VERSION),
  cancel: z.array(RunRef).min(1).max(1000),
});
export const PushBody = z.union([AssignPush, CancelPush]);
export type PushBody = z.infer<typeof PushBody>;

export const PushClaims = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  iat: z.number(),
  nbf: z.number(),
  exp: z.number(),
  jti: z.string().min(1).max(200),
  bh: z.string(),
});
export type PushClaims = z.infer<typeof PushClaims>;

/** Per-assignment rejection reasons inside a 2xx push answer. */
export const RejectReason = z.enum([
  'unknown_task',
  'invalid_input',
  'no_slot',
  'duplicate',
  'untrusted_events_url',
]);
export type RejectReason = z.infer<typeof RejectReason>;
export const rejectReasons = RejectReason.options;

export const Rejection = z.object({
  ...runRef,
  reason: RejectReason,
  issues: z.array(z.unknown()).optional(),
});
export type Rejection = z.infer<typeof Rejection>;

/** How much of a stack trace a failed event carries; the rest is cut (the top frames say the most). */
export const MAX_STACK_CHARS = 8_192;

export const TaskError = z.object({
  message: z.string(),
  name: z.string(),
  retryable: z.boolean(),
  /** The thrown error's stack trace, at most `MAX_STACK_CHARS` characters. */
  stack: z.string().max(MAX_STACK_CHARS).optional(),
});
export type TaskError = z.infer<typeof TaskError>;

export const RunResult = z.object({
  ...runRef,
  status: z.enum(['completed', 'failed', 'suspended']),
  output: z.unknown().optional(),
  error: TaskError.optional(),
  /** With `suspended`: where the durable run stopped and when to push it again. */
  suspension: Suspension.optional(),
});
export type RunResult = z.infer<typeof RunResult>;

export const CancelResponse = z.object({ cancelled: z.array(RunRef), unknown: z.array(RunRef) });
export type CancelResponse = z.infer<typeof CancelResponse>;

/** The levels of a task's log lines (`ctx.log`), lowest first. */
export const RUN_LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const RunLogLevel = z.enum(RUN_LOG_LEVELS);
export type RunLogLevel = z.infer<typeof RunLogLevel>;

/**
 * Bounds of a task's log lines sent as `log` events, per attempt: at most `MAX_RUN_LOG_LINES` lines of at most
 * `MAX_RUN_LOG_CHARS` characters together (messages and fields as JSON), then one line that counts the ones
 * dropped. A line's message is cut to `MAX_LOG_MESSAGE_CHARS`; fields longer as JSON than `MAX_LOG_FIELDS_CHARS`
 * are left out. The engine refuses a longer message or fields, or a `seq` past the marker's, with the rest of the post.
 */
export const MAX_RUN_LOG_LINES = 200;
export const MAX_RUN_LOG_CHARS = 65_536;
export const MAX_LOG_MESSAGE_CHARS = 2_048;
export const MAX_LOG_FIELDS_CHARS = 2_048;

const LogFields = z
  .record(z.string(), z.unknown())
  .refine((fields) => JSON.stringify(fields).length <= MAX_LOG_FIELDS_CHARS, {
    message: `fields over ${MAX_LOG_FIELDS_CHARS} characters as JSON`,
  });

const eventBase = { ...runRef, at: z.string() };
export const RunEvent = z.discriminatedUnion('type', [
  z.object({ ...eventBase, type: z.literal('started') }),
  z.object({ ...eventBase, type: z.literal('heartbeat') }),
  z.object({ ...eventBase, type: z.literal('completed'), output: z.unknown() }),
  z.object({ ...eventBase, type: z.literal('failed'), error: TaskError }),
  z.object({ ...eventBase, type: z.literal('slot_released') }),
  z.object({ ...eventBase, type: z.literal('timeout_refreshed'), incrementMs: int32().positive() }),
  z.object({ ...eventBase, type: z.literal('step'), name: z.string().min(1).max(200), output: z.unknown() }),
  z.object({ ...eventBase, type: z.literal('suspended'), suspension: Suspension }),
  z.object({
    ...eventBase,
    type: z.literal('log'),
    /** The line's place among its attempt's lines, from 1; the marker of dropped lines comes last. */
    seq: int32()
      .min(1)
      .max(MAX_RUN_LOG_LINES + 1),
    level: RunLogLevel,
    message: z.string().max(MAX_LOG_MESSAGE_CHARS),
    fields: LogFields.optional(),
  }),
]);
export type RunEvent = z.infer<typeof RunEvent>;
export type RunEventType = RunEvent['type'];

/** Most events one post, or one push's answer, carries. */
export const MAX_EVENTS_PER_POST = 1000;
export const EventsBody = z.object({ events: z.array(RunEvent).min(1).max(MAX_EVENTS_PER_POST) });
export type EventsBody = z.infer<typeof EventsBody>;
export const EventResult = z.enum(['ok', 'stale']);
export type EventResult = z.infer<typeof EventResult>;
export const EventsResponse = z.object({ results: z.array(EventResult) });
export type EventsResponse = z.infer<typeof EventsResponse>;

/**
 * A push's answer may carry the events of runs that ended before it was sent (`answerWithinMs`), in the order they
 * were raised, in place of posting them.
 */
const answerEvents = z.array(RunEvent).max(MAX_EVENTS_PER_POST).optional();
export const AcceptedResponse = z.object({
  accepted: z.array(RunRef),
  rejected: z.array(Rejection),
  events: answerEvents,
});
export type AcceptedResponse = z.infer<typeof AcceptedResponse>;
export const SyncResponse = z.object({
  results: z.array(RunResult),
  rejected: z.array(Rejection),
  events: answerEvents,
});
export type SyncResponse = z.infer<typeof SyncResponse>;

/** A rate limit's window: a named one, or a length in ms. */
export const RateLimitWindow = z.union([z.enum(['second', 'minute', 'hour', 'day']), int32().min(1)]);
export type RateLimitWindow = z.infer<typeof RateLimitWindow>;
const WINDOW_MS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
/** The window's length in ms. */
export function windowMs(per: RateLimitWindow): number {
  return typeof per === 'number' ? per : WINDOW_MS[per];
}

/** At most `limit` units start per window of `per` per key; each run of the task takes `units` (default 1). */
export const RateLimitSpec = z.object({
  key: KeyTemplate,
  units: int32().min(1).optional(),
  limit: int32().min(1),
  per: RateLimitWindow,
});
export type RateLimitSpec = z.infer<typeof RateLimitSpec>;

/**
 * What happens to a run over its concurrency key's limit. Absent: it waits, in queue order (pushworker's
 * default). `GROUP_ROUND_ROBIN`: it waits, and waiting runs of different keys start in turn. `CANCEL_IN_PROGRESS`:
 * the oldest run of the key is cancelled to make room. `CANCEL_NEWEST`: the new run is cancelled.
 */
export const ConcurrencyStrategy = z.enum(['GROUP_ROUND_ROBIN', 'CANCEL_IN_PROGRESS', 'CANCEL_NEWEST']);
export type ConcurrencyStrategy = z.infer<typeof ConcurrencyStrategy>;

/** Most runs of one key assigned or running at once, across all workers. */
export const concurrencyLimit = () => z.number().int().min(1).max(100_000);

/** A task's declared concurrency: the key (a template on the input) and the limit its runs share. */
export const ConcurrencySpec = z.object({
  key: KeyTemplate,
  limit: concurrencyLimit(),
  strategy: ConcurrencyStrategy.optional(),
});
export type ConcurrencySpec = z.infer<typeof ConcurrencySpec>;

export const TaskManifest = z.object({
  name: z.string().min(1).max(200),
  inputSchema: z.record(z.string(), z.unknown()),
  timeoutMs: int32().positive(),
  retries: int32().min(0),
  slotCost: int32().min(1),
  /** Rate limits every run of the task is held to; keys may be templates on the input. */
  rateLimits: z.array(RateLimitSpec).max(10).optional(),
  /** Concurrency every run of the task is held to, unless the enqueue gives its own. */
  concurrency: ConcurrencySpec.optional(),
  /** Cron expressions the engine runs the task on, as schedules of source `code` (see docs/protocol.md). */
  cron: TaskCron.optional(),
  /** The input of the runs these schedules enqueue. */
  cronInput: z.unknown().optional(),
  /** The IANA time zone the expressions are read in (default UTC). */
  cronTimezone: TimeZone.optional(),
  /** Event names the task runs on: each published event of one of them enqueues a run with its payload. */
  on: EventTriggers.optional(),
});
export type TaskManifest = z.infer<typeof TaskManifest>;

export const Labels = z.record(z.string(), z.union([z.string(), z.number()]));
export type Labels = z.infer<typeof Labels>;

/** Body of `PUT /v1/workers`, and of the signed manifest a serverless worker serves. */
export const Registration = z.object({
  name: z.string().min(1).max(200),
  url: z.url().optional(),
  slots: int32().positive(),
  /** The largest push body the worker reads, in bytes: the engine cuts its pushes to fit (1 MiB if not said). */
  maxBodyBytes: int32().positive().optional(),
  labels: Labels.default({}),
  tasks: z.array(TaskManifest),
  /** Workflows over the tasks above (see docs/protocol.md, "Workflows"). */
  workflows: z.array(WorkflowManifest).max(100).optional(),
});
export type Registration = z.infer<typeof Registration>;
export const RegistrationResponse = z.object({ workerId: z.string() });

/** A run's state, as the engine stores and shows it. */
export const RunState = z.enum(['QUEUED', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED']);
export type RunState = z.infer<typeof RunState>;
/** The states a run never leaves. */
export const TerminalRunState = RunState.extract(['COMPLETED', 'FAILED', 'CANCELLED']);
export type TerminalRunState = z.infer<typeof TerminalRunState>;
export const TERMINAL_RUN_STATES: ReadonlySet<string> = new Set(TerminalRunState.options);
/** The states a run is in until it ends: what live counts cover. */
export const LiveRunState = RunState.exclude(TerminalRunState.options);
export type LiveRunState = z.infer<typeof LiveRunState>;

/** Who a bearer token speaks for: one worker, or an API client. */
export const TokenKind = z.enum(['worker', 'api']);
export type TokenKind = z.infer<typeof TokenKind>;
/** What an API token may do, least first: each scope allows everything the ones before it do. */
export const ApiScope = z.enum(['read', 'enqueue', 'admin']);
export type ApiScope = z.infer<typeof ApiScope>;

/** Whether a token of scope `held` may do what scope `needed` allows. */
export function scopeAllows(held: ApiScope, needed: ApiScope): boolean {
  return ApiScope.options.indexOf(held) >= ApiScope.options.indexOf(needed);
}

export const WorkerState = z.enum(['ACTIVE', 'INACTIVE', 'PAUSED', 'STOPPED']);
/** How a worker came to the engine: it registered itself (and heartbeats), or the engine pulled its manifest. */
export const WorkerKind = z.enum(['registered', 'serverless']);
export type WorkerKind = z.infer<typeof WorkerKind>;
/** `async`: answer 202 and run in the background; `sync`: run inside the push and answer with the results. */
export const DeliveryMode = z.enum(['async', 'sync']);
export type DeliveryMode = z.infer<typeof DeliveryMode>;
export { StickyMode } from './sticky-mode.ts';
export type WorkerState = z.infer<typeof WorkerState>;

/** Body of `POST /v1/workers/{id}/heartbeat`. */
export const WorkerHeartbeat = z.object({
  state: WorkerState.extract(['ACTIVE', 'STOPPED']).default('ACTIVE'),
  slots: z.object({ total: int32(), used: int32() }).optional(),
});
export type WorkerHeartbeat = z.infer<typeof WorkerHeartbeat>;

export const Health = z.object({
  status: z.enum(['ok', 'stopping']),
  name: z.string(),
  slots: z.object({ total: z.number().int(), used: z.number().int() }),
  tasks: z.array(z.string()),
});
export type Health = z.infer<typeof Health>;

export const SIGNATURE_HEADER = 'pushworker-signature';
