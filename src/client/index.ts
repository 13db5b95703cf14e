// A small typed client for the engine API (Web fetch only, so it runs anywhere).
import type { z } from 'zod';
import { jsonOf, readAnswerBytes } from '../http/answer.ts';
import {
  BulkEnqueueResponse,
  CreateTokenResponse,
  DeleteWorkerResponse,
  type EnqueueRequest,
  EnqueueResponse,
  type ListRunsOptions,
  ListRunsResponse,
  RateLimitsResponse,
  RateLimitView,
  type RetryRunsRequest,
  RetryRunsResponse,
  RevokeTokenResponse,
  RotateKeysResponse,
  RunDetailView,
  RunLogsResponse,
  type RunSeriesOptions,
  RunSeriesResponse,
  RunStatsResponse,
  RunView,
  type SetRateLimitRequest,
  TaskStatsResponse,
  TaskTotalsResponse,
  WhoamiResponse,
  WorkersResponse,
  WorkerView,
} from '../protocol/api.ts';
import { type ErrorCode, errorStatus, PushworkerError } from '../protocol/errors.ts';
import {
  BulkPublishEventsResponse,
  EventView,
  type ListEventsOptions,
  ListEventsResponse,
  type PublishEventRequest,
  PublishEventResponse,
} from '../protocol/published-events.ts';
import {
  type CreateScheduleRequest,
  DeleteScheduleResponse,
  SchedulesResponse,
  ScheduleView,
} from '../protocol/schedules.ts';
import { type ApiScope, TERMINAL_RUN_STATES, type TokenKind } from '../protocol/schemas.ts';
import {
  type ListWorkflowRunsOptions,
  ListWorkflowRunsResponse,
  type WorkflowEnqueueRequest,
  WorkflowEnqueueResponse,
  WorkflowRunView,
  WorkflowsResponse,
} from '../protocol/workflows.ts';

export type {
  AttemptView,
  DeadReason,
  EnqueueRequest,
  EnqueueResponse,
  ListRunsOptions,
  ListRunsResponse,
  MetadataMatch,
  RetryRunsRequest,
  RunDetailView,
  RunLogLineView,
  RunSeriesOptions,
  RunSeriesResponse,
  RunView,
  WhoamiResponse,
  WorkerView,
} from '../protocol/api.ts';
export type {
  EventView,
  ListEventsOptions,
  ListEventsResponse,
  PublishEventRequest,
  PublishEventResponse,
} from '../protocol/published-events.ts';
export type { CreateScheduleRequest, ScheduleView } from '../protocol/schedules.ts';
export type { ApiScope } from '../protocol/schemas.ts';
export type {
  ListWorkflowRunsOptions,
  ListWorkflowRunsResponse,
  WorkflowEnqueueRequest,
  WorkflowEnqueueResponse,
  WorkflowRunView,
  WorkflowTaskView,
} from '../protocol/workflows.ts';
export type TaskStats = z.infer<typeof TaskStatsResponse>['tasks'][number];

export interface ClientOptions {
  url: string;
  token: string;
  fetch?: typeof fetch;
  /** How long one call may take, answer included (default 30 s); a wait's long poll gets this beyond its wait. */
  timeoutMs?: number;
  /** Largest answer read (default 64 MiB); a larger one fails `too_large` and is not read further. */
  maxAnswerBytes?: number;
}

/**
 * The caller's span, for the calls that take it as a header (a publish, a workflow run, a retry): their runs join
 * the caller's trace. `enqueue` takes it as the request's `traceparent`.
 */
export interface TracedCall {
  traceparent?: string;
}

export const CLIENT_TIMEOUT_MS = 30_000;
export const CLIENT_MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export function createClient(options: ClientOptions) {
  const base = options.url.replace(/\/$/, '');
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? CLIENT_TIMEOUT_MS;
  const maxAnswerBytes = options.maxAnswerBytes ?? CLIENT_MAX_ANSWER_BYTES;

  async function call<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    waitMs = 0,
    traced: TracedCall = {},
  ): Promise<z.infer<S>> {
    const allowedMs = timeoutMs + waitMs;
    const deadline = AbortSignal.timeout(allowedMs);
    try {
      const response = await doFetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(traced.traceparent === undefined ? {} : { traceparent: traced.traceparent }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      });
      const bytes = await readAnswerBytes(response, maxAnswerBytes);
      if (!bytes) {
        throw new PushworkerError(
          'too_large',
          `the engine's answer to ${method} ${path} is over ${maxAnswerBytes} bytes`,
        );
      }
      const payload = jsonOf(bytes);
      if (!response.ok) throw errorOf(response.status, payload);
      return schema.parse(payload);
    } catch (error) {
      if (deadline.aborted && !signal?.aborted) {
        throw new PushworkerError(
          'timeout',
          `the engine did not answer ${method} ${path} within ${allowedMs} ms`,
        );
      }
      throw error;
    }
  }

  return {
    enqueue: (request: EnqueueRequest) => call(EnqueueResponse, 'POST', '/v1/runs', request),
    enqueueMany: async (runs: EnqueueRequest[]) =>
      (await call(BulkEnqueueResponse, 'POST', '/v1/runs/bulk', { runs })).runs,
    /** Runs newest first; pass the answer's `nextCursor` as `cursor` for the next page. */
    listRuns: (options: ListRunsOptions = {}) => {
      const query = new URLSearchParams();
      if (options.state !== undefined) query.set('state', [options.state].flat().join(','));
      if (options.task !== undefined) query.set('task', options.task);
      if (options.worker !== undefined) query.set('worker', options.worker);
      if (options.dead !== undefined) query.set('dead', [options.dead].flat().join(','));
      if (options.metadata !== undefined)
        query.set('metadata', `${options.metadata.key}=${options.metadata.value}`);
      if (options.createdAfter !== undefined) query.set('createdAfter', isoOf(options.createdAfter));
      if (options.createdBefore !== undefined) query.set('createdBefore', isoOf(options.createdBefore));
      if (options.limit !== undefined) query.set('limit', String(options.limit));
      if (options.cursor !== undefined) query.set('cursor', options.cursor);
      const qs = query.toString();
      return call(ListRunsResponse, 'GET', `/v1/runs${qs ? `?${qs}` : ''}`);
    },
    /** A run with every attempt that has ended. */
    getRun: (id: string) => call(RunDetailView, 'GET', `/v1/runs/${encodeURIComponent(id)}`),
    /** The lines the run's task logged, by attempt and in order (what its workers sent: `info` and up by default). */
    getRunLogs: async (id: string) =>
      (await call(RunLogsResponse, 'GET', `/v1/runs/${encodeURIComponent(id)}/logs`)).logs,
    /** Queues a finished run again with a fresh retry budget; `conflict` when it has not finished. */
    retryRun: (id: string, traced?: TracedCall) =>
      call(RunView, 'POST', `/v1/runs/${encodeURIComponent(id)}/retry`, {}, undefined, 0, traced),
    /** Queues again the finished runs a filter selects (oldest first, up to `limit`); `dead` replays dead runs. */
    retryRuns: (filter: RetryRunsRequest, traced?: TracedCall) =>
      call(RetryRunsResponse, 'POST', '/v1/runs/retry', filter, undefined, 0, traced),
    /** Long-polls until the run is terminal or `timeoutMs` passes; returns the last view either way. */
    async waitRun(id: string, wait: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<RunView> {
      const deadline = Date.now() + (wait.timeoutMs ?? 60_000);
      for (;;) {
        const remaining = Math.max(0, deadline - Date.now());
        const path = `/v1/runs/${encodeURIComponent(id)}/wait?timeoutMs=${Math.min(remaining, 30_000)}`;
        const run = await call(RunView, 'GET', path, undefined, wait.signal, Math.min(remaining, 30_000));
        if (TERMINAL_RUN_STATES.has(run.state) || Date.now() >= deadline) return run;
      }
    },
    cancel: (id: string) => call(RunView, 'POST', `/v1/runs/${encodeURIComponent(id)}/cancel`, {}),
    listWorkers: async () => (await call(WorkersResponse, 'GET', '/v1/workers')).workers,
    pauseWorker: (id: string) => call(WorkerView, 'POST', `/v1/workers/${encodeURIComponent(id)}/pause`, {}),
    /** Removes an INACTIVE or STOPPED worker that holds no run. */
    deleteWorker: (id: string) =>
      call(DeleteWorkerResponse, 'DELETE', `/v1/workers/${encodeURIComponent(id)}`),
    resumeWorker: (id: string) =>
      call(WorkerView, 'POST', `/v1/workers/${encodeURIComponent(id)}/resume`, {}),
    /** Registers a serverless worker: the engine pulls its signed manifest. */
    registerWorker: (url: string, name?: string) =>
      call(WorkerView, 'POST', '/v1/workers/register', { url, ...(name ? { name } : {}) }),
    /** Creates a cron schedule; `conflict` when one of that name exists. */
    createSchedule: (request: CreateScheduleRequest) => call(ScheduleView, 'POST', '/v1/schedules', request),
    /** Every schedule, code and API, with its next tick. */
    listSchedules: async () => (await call(SchedulesResponse, 'GET', '/v1/schedules')).schedules,
    getSchedule: (name: string) => call(ScheduleView, 'GET', `/v1/schedules/${encodeURIComponent(name)}`),
    pauseSchedule: (name: string) =>
      call(ScheduleView, 'POST', `/v1/schedules/${encodeURIComponent(name)}/pause`, {}),
    /** Resumes from now: ticks that passed while paused are skipped. */
    resumeSchedule: (name: string) =>
      call(ScheduleView, 'POST', `/v1/schedules/${encodeURIComponent(name)}/resume`, {}),
    /** Deletes an API schedule; a code schedule is refused with `conflict` (pause it). */
    deleteSchedule: (name: string) =>
      call(DeleteScheduleResponse, 'DELETE', `/v1/schedules/${encodeURIComponent(name)}`),
    /** Publishes an event: a run of each task listening for its name; a second publish of one `id` enqueues nothing. */
    publish: (event: PublishEventRequest, traced?: TracedCall) =>
      call(PublishEventResponse, 'POST', '/v1/events/publish', event, undefined, 0, traced),
    publishMany: async (events: PublishEventRequest[], traced?: TracedCall) =>
      (
        await call(
          BulkPublishEventsResponse,
          'POST',
          '/v1/events/publish/bulk',
          { events },
          undefined,
          0,
          traced,
        )
      ).events,
    /** Published events newest first; pass the answer's `nextCursor` as `cursor` for the next page. */
    listEvents: (options: ListEventsOptions = {}) => {
      const query = new URLSearchParams();
      if (options.name !== undefined) query.set('name', options.name);
      if (options.key !== undefined) query.set('key', options.key);
      if (options.limit !== undefined) query.set('limit', String(options.limit));
      if (options.cursor !== undefined) query.set('cursor', options.cursor);
      const qs = query.toString();
      return call(ListEventsResponse, 'GET', `/v1/events${qs ? `?${qs}` : ''}`);
    },
    /** A published event with the runs it enqueued. */
    getEvent: (id: string) => call(EventView, 'GET', `/v1/events/${encodeURIComponent(id)}`),
    /** The workflows the registered workers declare, each with its tasks and their parents. */
    listWorkflows: async () => (await call(WorkflowsResponse, 'GET', '/v1/workflows')).workflows,
    /** Enqueues a workflow run: its tasks without parents start now, each other one when its parents complete. */
    runWorkflow: (request: WorkflowEnqueueRequest, traced?: TracedCall) =>
      call(WorkflowEnqueueResponse, 'POST', '/v1/workflow-runs', request, undefined, 0, traced),
    /** Workflow runs newest first, without their tasks; pass `nextCursor` as `cursor` for the next page. */
    listWorkflowRuns: (options: ListWorkflowRunsOptions = {}) => {
      const query = new URLSearchParams();
      if (options.workflow !== undefined) query.set('workflow', options.workflow);
      if (options.state !== undefined) query.set('state', [options.state].flat().join(','));
      if (options.limit !== undefined) query.set('limit', String(options.limit));
      if (options.cursor !== undefined) query.set('cursor', options.cursor);
      const qs = query.toString();
      return call(ListWorkflowRunsResponse, 'GET', `/v1/workflow-runs${qs ? `?${qs}` : ''}`);
    },
    /** A workflow run with each task of its DAG and that task's run. */
    getWorkflowRun: (id: string) =>
      call(WorkflowRunView, 'GET', `/v1/workflow-runs/${encodeURIComponent(id)}`),
    /** Long-polls until the workflow run has ended or `timeoutMs` passes; returns the last view either way. */
    async waitWorkflowRun(
      id: string,
      wait: { timeoutMs?: number; signal?: AbortSignal } = {},
    ): Promise<WorkflowRunView> {
      const deadline = Date.now() + (wait.timeoutMs ?? 60_000);
      for (;;) {
        const remaining = Math.min(Math.max(0, deadline - Date.now()), 30_000);
        const path = `/v1/workflow-runs/${encodeURIComponent(id)}/wait?timeoutMs=${remaining}`;
        const run = await call(WorkflowRunView, 'GET', path, undefined, wait.signal, remaining);
        if (run.state !== 'RUNNING' || Date.now() >= deadline) return run;
      }
    },
    /** Cancels the task runs queued or running and starts no other; an ended workflow run is returned as it is. */
    cancelWorkflowRun: (id: string) =>
      call(WorkflowRunView, 'POST', `/v1/workflow-runs/${encodeURIComponent(id)}/cancel`, {}),
    /** Runs an ended workflow run's failed and cancelled tasks again; `conflict` while it is running. */
    retryWorkflowRun: (id: string, traced?: TracedCall) =>
      call(
        WorkflowRunView,
        'POST',
        `/v1/workflow-runs/${encodeURIComponent(id)}/retry`,
        {},
        undefined,
        0,
        traced,
      ),
    /** Queue and slot figures per task; with `tasks`, those tasks only (each listed). */
    taskStats: async (tasks?: readonly string[]) =>
      (await call(TaskStatsResponse, 'GET', taskStatsPath(tasks))).tasks,
    /** The run figures of these tasks summed: what an autoscaler of a worker serving them reads. */
    taskTotals: async (tasks: readonly string[]) =>
      (await call(TaskTotalsResponse, 'GET', taskStatsPath(tasks))).total,
    /** Runs per live state (QUEUED, ASSIGNED, RUNNING) over every task. */
    runStats: async () => (await call(RunStatsResponse, 'GET', '/v1/stats/runs')).states,
    /** The last `minutes` (default 15) in 60 buckets: runs finished, dispatch latency, queue depth per task. */
    runSeries: (options: RunSeriesOptions = {}) =>
      call(
        RunSeriesResponse,
        'GET',
        `/v1/stats/series${options.minutes === undefined ? '' : `?minutes=${options.minutes}`}`,
      ),
    /** Every rate limit key with its limit and the units taken in its current window. */
    rateLimits: async () => (await call(RateLimitsResponse, 'GET', '/v1/rate-limits')).rateLimits,
    /** Sets a limit on the key that overrides the one its tasks declare. */
    setRateLimit: (key: string, limit: SetRateLimitRequest) =>
      call(RateLimitView, 'PUT', `/v1/rate-limits/${encodeURIComponent(key)}`, limit),
    /** A new engine key signs from now on; earlier keys stay published until they retire. */
    rotateKeys: () => call(RotateKeysResponse, 'POST', '/v1/keys/rotate', {}),
    /** Mints a worker token for `worker`, or an API token of `scope` (default `admin`). */
    createToken: (kind: TokenKind, worker?: string, scope?: ApiScope) =>
      call(CreateTokenResponse, 'POST', '/v1/tokens', {
        kind,
        ...(worker ? { worker } : {}),
        ...(scope ? { scope } : {}),
      }),
    /** The scope and id of the API token this client carries. */
    whoami: () => call(WhoamiResponse, 'GET', '/v1/whoami'),
    /** Revokes a minted token by its id: refused from now on. */
    revokeToken: (id: string) => call(RevokeTokenResponse, 'DELETE', `/v1/tokens/${encodeURIComponent(id)}`),
  };
}

export type Client = ReturnType<typeof createClient>;

const taskStatsPath = (tasks?: readonly string[]) =>
  `/v1/stats/tasks${tasks === undefined ? '' : `?task=${encodeURIComponent(tasks.join(','))}`}`;

function errorOf(status: number, payload: unknown): PushworkerError {
  const error = (payload as { error?: { code?: string; message?: string; details?: unknown } } | undefined)
    ?.error;
  const code = error?.code && error.code in errorStatus ? (error.code as ErrorCode) : fallbackCode(status);
  return new PushworkerError(code, error?.message ?? `the engine answered ${status}`, error?.details);
}

/** The codes a bare status stands for when an answer names none (a proxy's page), by their `errorStatus`. */
const FALLBACK_CODES: ErrorCode[] = ['unauthorized', 'forbidden', 'not_found', 'conflict'];

function fallbackCode(status: number): ErrorCode {
  const code = FALLBACK_CODES.find((c) => errorStatus[c] === status);
  if (code) return code;
  if (status >= 400 && status < 500) return 'invalid_request';
  return 'internal';
}

const isoOf = (time: Date | string) => (typeof time === 'string' ? time : time.toISOString());
