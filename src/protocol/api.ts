// zod schemas of the engine's HTTP API (requests and views); the typed client uses the same ones.
import { z } from 'zod';
import { Journal } from './journal.ts';
import {
  ApiScope,
  ConcurrencyStrategy,
  concurrencyLimit,
  int32,
  Labels,
  LiveRunState,
  RateLimitWindow,
  RunLogLevel,
  RunState,
  StickyMode,
  TaskError,
  TaskManifest,
  TokenKind,
  WorkerKind,
  WorkerState,
} from './schemas.ts';
import { Traceparent } from './traceparent.ts';

const key = z.string().min(1).max(200);

/** The longest a run may be delayed, and the longest its queue deadline may be after it is due: a year (`too_far_ahead`). */
export const MAX_DELAY_MS = 365 * 24 * 3600_000;

/** A time as an ISO 8601 date-time with its offset (`2026-12-02T18:00:00Z`, `…+01:00`). */
const isoTime = z.iso.datetime({ offset: true });

const EnqueueFields = z.object({
  task: key,
  input: z.unknown().optional(),
  idempotencyKey: key.optional(),
  /** Higher runs first; FIFO within one priority. */
  priority: z.number().int().min(-1000).max(1000).optional(),
  affinity: z
    .object({
      /** Labels a worker must carry (all of them). */
      required: Labels.optional(),
      /** Labels that make a worker preferable, with weights summed per match. */
      preferred: z
        .array(z.object({ labels: Labels, weight: z.number().positive() }))
        .max(20)
        .optional(),
    })
    .optional(),
  /** Runs with one sticky key go to the same worker: `soft` while it has room, `hard` while it lives. */
  sticky: z.object({ key, mode: StickyMode.default('soft') }).optional(),
  /** At most `limit` runs with this key are assigned or running at once, across all workers. */
  concurrency: z
    .object({ key, limit: concurrencyLimit(), strategy: ConcurrencyStrategy.optional() })
    .optional(),
  /** Rate limits set through `PUT /v1/rate-limits/{key}` (or declared by a task) that this run is held to too. */
  rateLimitKeys: z
    .array(z.union([key, z.object({ key, units: int32().min(1).optional() })]))
    .max(10)
    .optional(),
  timeoutMs: int32().positive().optional(),
  retries: z.number().int().min(0).max(1000).optional(),
  slotCost: int32().min(1).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** Not due before this time (QStash `Upstash-Not-Before`, Hatchet `schedule`); at most `MAX_DELAY_MS` ahead. */
  runAt: isoTime.optional(),
  /** Not due for this long from now (QStash `Upstash-Delay`); at most `MAX_DELAY_MS`. */
  delayMs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Fails as `ScheduleTimeout` unless first assigned to a worker by this time; after the run is due. */
  expiresAt: isoTime.optional(),
  /** Fails as `ScheduleTimeout` unless first assigned this long after it is due (Hatchet `scheduleTimeout`). */
  scheduleTimeoutMs: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  /** The W3C traceparent of the caller's span: the run's spans join its trace (docs/protocol.md, Tracing). */
  traceparent: Traceparent.optional(),
});

export const EnqueueRequest = EnqueueFields.superRefine((r, ctx) => {
  if (r.runAt !== undefined && r.delayMs !== undefined)
    ctx.addIssue({ code: 'custom', path: ['delayMs'], message: 'give runAt or delayMs, not both' });
  if (r.expiresAt !== undefined && r.scheduleTimeoutMs !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['scheduleTimeoutMs'],
      message: 'give expiresAt or scheduleTimeoutMs, not both',
    });
});
export type EnqueueRequest = z.input<typeof EnqueueRequest>;

export const BulkEnqueueRequest = z.object({ runs: z.array(EnqueueRequest).min(1).max(1000) });

/** Why a run is dead (FAILED): it expired in the queue, or its attempts failed for good. */
export const DeadReason = z.enum(['expired', 'exhausted']);
export type DeadReason = z.infer<typeof DeadReason>;

/** `expired,exhausted` or one of them, in a query string. */
const deadReasons = z
  .string()
  .transform((s) => s.split(',').filter(Boolean))
  .pipe(z.array(DeadReason).min(1));

export const RunView = z.object({
  id: z.string(),
  task: z.string(),
  state: RunState,
  attempt: z.number().int(),
  failures: z.number().int(),
  priority: z.number().int(),
  input: z.unknown(),
  output: z.unknown().optional(),
  error: TaskError.optional(),
  workerId: z.string().nullable(),
  idempotencyKey: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** Why a queued run has not started, when the engine can tell: no worker serves its task, a delay, a retry back-off. */
  waitingFor: z.string().optional(),
  /** A queued run's due time, while it is in the future (a delay or a retry back-off). */
  dueAt: z.string().optional(),
  /** The queue deadline: a run not yet assigned fails as `ScheduleTimeout` then. */
  expiresAt: z.string().optional(),
  /** On a FAILED run: `expired` when its queue deadline passed, `exhausted` when its attempts failed for good. */
  dead: DeadReason.optional(),
  /** A workflow task's run: the workflow run it belongs to. */
  workflowRunId: z.string().optional(),
  /** A child run: the run that spawned it. */
  parentRunId: z.string().optional(),
  /** What the run was enqueued with as `metadata`, when it was. */
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type RunView = z.infer<typeof RunView>;

export const AttemptOutcome = z.enum(['completed', 'failed', 'cancelled', 'requeued', 'suspended']);
export type AttemptOutcome = z.infer<typeof AttemptOutcome>;

/**
 * One attempt of a run, kept when it ended: where it ran, when, and how it ended. `failed` attempts may have been
 * retried; `requeued` ones ended without failing (a lost lease, a refused push, the worker shutting down);
 * `suspended` ones are a durable run's sleeps and waits.
 */
export const AttemptView = z.object({
  attempt: z.number().int(),
  workerId: z.string().nullable(),
  assignedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  endedAt: z.string(),
  outcome: AttemptOutcome,
  error: TaskError.nullable(),
});
export type AttemptView = z.infer<typeof AttemptView>;

/** A run with every attempt that has ended, oldest first; one still under way is the run itself. */
export const RunDetailView = RunView.extend({
  attempts: z.array(AttemptView),
  /** A durable run's journal: each step's recorded result, and its sleeps and waits, by name. */
  journal: Journal.optional(),
});
export type RunDetailView = z.infer<typeof RunDetailView>;

/** A line the task logged (`ctx.log`) during an attempt, as its worker sent it; `at` is the worker's time. */
export const RunLogLineView = z.object({
  attempt: z.number().int(),
  seq: z.number().int(),
  at: z.string(),
  level: RunLogLevel,
  message: z.string(),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type RunLogLineView = z.infer<typeof RunLogLineView>;
export const RunLogsResponse = z.object({ logs: z.array(RunLogLineView) });

/** Runs that have finished and may be queued again. */
export const RetryableRunState = RunState.extract(['FAILED', 'CANCELLED', 'COMPLETED']);

export const RetryRunsRequest = z
  .object({
    /** Default `['FAILED']` when `dead` is given. */
    state: z.array(RetryableRunState).min(1).optional(),
    /** Only dead runs of these reasons (FAILED ones). */
    dead: z.array(DeadReason).min(1).optional(),
    task: key.optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .refine((r) => r.state !== undefined || r.dead !== undefined, {
    message: 'give state, dead, or both',
    path: ['state'],
  });
export type RetryRunsRequest = z.input<typeof RetryRunsRequest>;
export const RetryRunsResponse = z.object({ runs: z.array(RunView) });

/** A metadata filter, `key=value`: runs whose metadata has that key with that value. */
export interface MetadataMatch {
  key: string;
  value: string;
}

/** `key=value`, split at the first `=`: the key is 1 to 200 characters, the value at most 1000. */
const metadataMatch = z
  .string()
  .regex(/^[^=]{1,200}=/, 'give key=value, the key 1 to 200 characters')
  .max(1201)
  .transform((s): MetadataMatch => {
    const at = s.indexOf('=');
    return { key: s.slice(0, at), value: s.slice(at + 1) };
  });

export const ListRunsQuery = z
  .object({
    /** One state or several, comma-separated. */
    state: z
      .string()
      .transform((s) => s.split(',').filter(Boolean))
      .pipe(z.array(RunState))
      .optional(),
    task: key.optional(),
    /** Runs held, or last held, by this worker id. */
    worker: key.optional(),
    /** Only dead (FAILED) runs of these reasons, comma-separated. */
    dead: deadReasons.optional(),
    /** Runs whose metadata has this key with this value (as a string, or the number or boolean it reads as). */
    metadata: metadataMatch.optional(),
    /** Runs enqueued at or after this time. */
    createdAfter: isoTime.optional(),
    /** Runs enqueued before this time. */
    createdBefore: isoTime.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    /** Opaque: the `nextCursor` of the previous page. */
    cursor: z
      .string()
      .regex(/^[0-9]{1,18}$/)
      .optional(),
  })
  .superRefine((q, ctx) => {
    if (q.createdAfter && q.createdBefore && Date.parse(q.createdAfter) >= Date.parse(q.createdBefore))
      ctx.addIssue({
        code: 'custom',
        path: ['createdBefore'],
        message: 'createdBefore must come after createdAfter',
      });
  });
/** The client's form of the list query: states as a list rather than comma-separated. */
export interface ListRunsOptions {
  state?: RunState | RunState[];
  task?: string;
  worker?: string;
  dead?: DeadReason | DeadReason[];
  metadata?: MetadataMatch;
  createdAfter?: Date | string;
  createdBefore?: Date | string;
  limit?: number;
  cursor?: string;
}

export const ListRunsResponse = z.object({
  runs: z.array(RunView),
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type ListRunsResponse = z.infer<typeof ListRunsResponse>;

export const EnqueueResponse = RunView.extend({
  created: z.boolean(),
  /** Said when the run may wait long: no registered worker serves its task (one may come later). */
  warnings: z.array(z.string()).optional(),
});
export type EnqueueResponse = z.infer<typeof EnqueueResponse>;
export const BulkEnqueueResponse = z.object({ runs: z.array(EnqueueResponse) });

export const WorkerView = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  kind: WorkerKind,
  state: WorkerState,
  slots: z.object({ total: z.number().int(), used: z.number().int() }),
  labels: Labels,
  tasks: z.array(TaskManifest),
  lastHeartbeatAt: z.string(),
  /** Since when pushes to the worker fail, and why; absent while they succeed. */
  pushFailing: z.object({ since: z.string(), reason: z.string() }).optional(),
});
export type WorkerView = z.infer<typeof WorkerView>;
export const WorkersResponse = z.object({ workers: z.array(WorkerView) });
export const DeleteWorkerResponse = z.object({ id: z.string(), deleted: z.literal(true) });

export const TaskStatsView = z.object({
  task: z.string(),
  /** Waiting runs (including those delayed or in retry backoff). */
  queued: z.number().int(),
  /** Waiting runs that could start now (not in a retry back-off nor held by a rate limit): what an autoscaler reads. */
  ready: z.number().int(),
  /** Waiting runs not due yet: delayed, or in a retry back-off (absent from engines that predate delays). */
  scheduled: z.number().int().optional(),
  assigned: z.number().int(),
  running: z.number().int(),
  workers: z.number().int(),
  slots: z.object({ total: z.number().int(), used: z.number().int() }),
});
export type TaskStatsView = z.infer<typeof TaskStatsView>;
/** Most tasks one stats query names: a worker's tasks, as an autoscaler lists them. */
export const MAX_STATS_TASKS = 100;
export const TaskStatsQuery = z.object({
  /** Only these tasks, comma-separated; each is listed, with zeros when nothing of it is queued or served. */
  task: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(key).min(1).max(MAX_STATS_TASKS))
    .optional(),
});
/** The run figures of the tasks listed, summed: what scales a worker serving several tasks. */
export const TaskStatsTotal = TaskStatsView.pick({
  queued: true,
  ready: true,
  scheduled: true,
  assigned: true,
  running: true,
}).required();
export const TaskStatsResponse = z.object({
  tasks: z.array(TaskStatsView),
  /** Absent from engines that predate it. */
  total: TaskStatsTotal.optional(),
});
/** The same answer read for its total alone (the client's `taskTotals`). */
export const TaskTotalsResponse = z.object({ total: TaskStatsTotal });

/** Runs per live state over every task; finished runs are not counted (that would read every one kept). */
export const RunStatsResponse = z.object({ states: z.record(LiveRunState, z.number().int()) });
export type RunStatsResponse = z.infer<typeof RunStatsResponse>;

/** The window of `GET /v1/stats/series`, in minutes; its buckets are `minutes` seconds long, 60 of them. */
export const SERIES_MINUTES = { min: 5, max: 60, default: 15 } as const;
export const SERIES_BUCKETS = 60;

export const RunSeriesQuery = z.object({
  minutes: z.coerce
    .number()
    .int()
    .min(SERIES_MINUTES.min)
    .max(SERIES_MINUTES.max)
    .default(SERIES_MINUTES.default),
});
export interface RunSeriesOptions {
  minutes?: number;
}

/** Each array has one value per bucket, oldest first, from `from`; the last bucket is the one still filling. */
export const RunSeriesResponse = z.object({
  from: z.string(),
  to: z.string(),
  bucketMs: z.number().int(),
  /** Runs that finished COMPLETED, and FAILED, in each bucket. */
  completed: z.array(z.number().int()),
  failed: z.array(z.number().int()),
  /** From due to assigned, of the runs assigned in each bucket (null: none was). */
  dispatchLatencyMs: z.object({
    p50: z.array(z.number().nullable()),
    p99: z.array(z.number().nullable()),
  }),
  /** Queued runs per task: the largest sample in each bucket, the depth now in the last (null: no sample). */
  queueDepth: z.array(z.object({ task: z.string(), depth: z.array(z.number().int().nullable()) })),
});
export type RunSeriesResponse = z.infer<typeof RunSeriesResponse>;

/** `scope` is for API tokens only (default `admin`, what every API token was before scopes). */
export const CreateTokenRequest = z.object({
  kind: TokenKind,
  worker: key.optional(),
  scope: ApiScope.optional(),
});
export const CreateTokenResponse = z.object({
  id: z.string(),
  token: z.string(),
  scope: ApiScope.optional(),
});
/** The API token a request carries: its scope, and its id (null for a static token). */
export const WhoamiResponse = z.object({
  kind: z.literal('api'),
  scope: ApiScope,
  id: z.string().nullable(),
});
export type WhoamiResponse = z.infer<typeof WhoamiResponse>;
export const RevokeTokenResponse = z.object({ id: z.string(), revoked: z.literal(true) });

export const RegisterUrlRequest = z.object({ url: z.url(), name: key.optional() });

export const RotateKeysResponse = z.object({
  kid: z.string(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
});

/** A rate limit as the engine applies it: the override when one is set, else the one a task declared. */
export const RateLimitView = z.object({
  key: z.string(),
  limit: z.number().int(),
  /** The window's length in ms. */
  perMs: z.number().int(),
  declared: z.object({ limit: z.number().int(), perMs: z.number().int() }).nullable(),
  override: z.object({ limit: z.number().int(), perMs: z.number().int() }).nullable(),
  /** The current window: when it started and ends, and the units taken in it. */
  window: z.object({ start: z.string(), end: z.string(), used: z.number().int() }),
});
export type RateLimitView = z.infer<typeof RateLimitView>;
export const RateLimitsResponse = z.object({ rateLimits: z.array(RateLimitView) });

/** Body of `PUT /v1/rate-limits/{key}`: the limit that overrides the declared one. */
export const SetRateLimitRequest = z.object({ limit: int32().min(1), per: RateLimitWindow });
export type SetRateLimitRequest = z.input<typeof SetRateLimitRequest>;
export const RateLimitKey = key;
