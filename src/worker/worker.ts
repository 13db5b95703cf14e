// createWorker(): tasks, slot budget, push verification and the engine link, served as one Hono app.

import type { Hono } from 'hono';
import { createKeySet, type KeySet, type KeySetOptions } from '../auth/keys.ts';
import { MemoryReplayStore, type ReplayStore } from '../auth/replay.ts';
import { DEFAULT_WORKER_MAX_BODY_BYTES } from '../protocol/journal.ts';
import type { DeliveryMode, Health, Labels, Registration } from '../protocol/schemas.ts';
import { createPushApp } from './app.ts';
import { ChildSpawner } from './child-spawner.ts';
import { EngineLink, engineEndpoint } from './engine-link.ts';
import { EventsOrigins } from './events-origins.ts';
import type { HatchetOptions } from './hatchet.ts';
import { createLogger, type Logger, type LogLevel } from './log.ts';
import { Metrics } from './metrics.ts';
import { platformFor } from './platform.ts';
import { EventReporter } from './reporter.ts';
import { RunLog } from './run-log.ts';
import { RunTracing } from './run-tracing.ts';
import { Runner } from './runner.ts';
import { SlotBudget } from './slots.ts';
import { type AnyTask, manifestOf } from './task.ts';
import { type Workflow, workflowManifestOf } from './workflow.ts';

export interface WorkerOptions {
  name: string;
  /** The tasks served alone; a workflow's tasks are served without being listed here too. */
  tasks?: AnyTask[];
  /** Workflows (DAGs of tasks) this worker serves, each with all of its tasks. */
  workflows?: Workflow[];
  /** Concurrency limit in slot units; default 100. */
  slots?: number;
  labels?: Labels;
  /** Keys trusted for pushes: a key set, or where to find one. Optional only for a Hatchet-only endpoint. */
  keys?: KeySet | KeySetOptions;
  /** Accept pushes only from this issuer. */
  issuer?: string;
  engineUrl?: string;
  /**
   * Origins besides `engineUrl`'s that an assignment's `eventsUrl` may name (the engine's public URL, when the
   * worker reaches the engine by another address). Events, and the token, go nowhere else.
   */
  eventsOrigins?: string[];
  /** The worker token for calls to the engine. */
  token?: string;
  /** This endpoint's public URL, sent when a long-lived worker registers. */
  url?: string;
  /** `async`: answer 202 and run in the background. `sync`: run inside the request and answer 200 with results. */
  mode?: DeliveryMode;
  heartbeatMs?: number;
  maxBodyBytes?: number;
  /**
   * How long a body read before it can be verified (a push's after its header verified, a Hatchet request's) may
   * take to arrive; default 5 s. A slower one is refused 408 `body_timeout`.
   */
  unverifiedBodyTimeoutMs?: number;
  /** How many such bodies are read at once; default 64. One more is refused 429 `busy` without being read. */
  maxUnverifiedBodies?: number;
  /** Sync mode: how long an answer waits for its events to reach the engine (default 10 s). */
  syncFlushTimeoutMs?: number;
  clockToleranceS?: number;
  shutdownGraceMs?: number;
  replay?: ReplayStore;
  logger?: Logger;
  logLevel?: LogLevel;
  /**
   * The level of each run's start and end lines, with its duration (default `debug`; `pushworker dev` uses
   * `info`). Failed runs and refused assignments are logged at `warn` whatever this is.
   */
  logRuns?: LogLevel;
  /**
   * The lowest level of a task's own lines (`ctx.log`) that travel with its events to the engine, which keeps
   * them with the run (default `info`; `silent` sends none). They are logged here as well, at `logLevel`.
   */
  runLogLevel?: LogLevel;
  fetch?: typeof fetch;
  eventRetry?: { baseMs?: number; maxMs?: number };
  /** Also serve Hatchet's HTTP operator protocol at `/hatchet/health` and `/hatchet/trigger`. */
  hatchet?: HatchetOptions;
  /**
   * Records an OpenTelemetry span per run (a child of the engine's push span when the assignment carries a
   * traceparent) through the globally registered tracer provider, under which `ctx.span` opens the task's own;
   * needs `@opentelemetry/api`. Off, that package is never loaded.
   */
  tracing?: boolean;
}

export interface Worker {
  readonly name: string;
  readonly mode: DeliveryMode;
  readonly app: Hono;
  /** The whole endpoint as a fetch handler (also usable as a module Worker's `fetch`). */
  fetch: Hono['fetch'];
  readonly metrics: Metrics;
  readonly log: Logger;
  manifest(): Registration;
  health(): Health;
  /**
   * Long-lived mode: register with the engine and heartbeat every `heartbeatMs`. `listeningUrl` is registered
   * when no `url` is configured: the address a server on loopback bound (Node's `serve` passes it).
   */
  start(options?: { listeningUrl?: string }): void;
  /** Graceful shutdown: refuse new pushes, let runs finish within the grace period, flush events. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Resolves when every event raised so far has been answered by the engine. */
  flush(timeoutMs?: number): Promise<boolean>;
}

export function createWorker(options: WorkerOptions): Worker {
  const log = options.logger ?? createLogger(options.logLevel ?? 'info');
  const served = servedTasks(options);
  const tasks = new Map(served.map((t) => [t.name, t]));
  if (tasks.size !== served.length) throw new TypeError('two tasks share a name');
  const slots = new SlotBudget(options.slots ?? 100);
  const heartbeatMs = options.heartbeatMs ?? 4_000;
  const mode = options.mode ?? 'async';
  const metrics = new Metrics();
  // Held by the worker object returned below, so that an adapter can give its services later.
  const identity = {};
  const platform = platformFor(identity, options.fetch);
  const engineFetch: typeof fetch = (input, init) => platform.fetch(input, init);
  const eventFailures = metrics.counter(
    'pushworker_event_post_failures_total',
    'Failed event posts, by outcome.',
  );
  const reporter = new EventReporter({
    token: options.token,
    fetch: engineFetch,
    log,
    retryBaseMs: options.eventRetry?.baseMs,
    retryMaxMs: options.eventRetry?.maxMs,
    onFailure: (kind) => eventFailures.inc({ outcome: kind }),
  });
  const runner = new Runner(
    tasks,
    {
      reporter,
      slots,
      log,
      heartbeatMs,
      runLogLevel: options.runLogLevel ?? 'info',
      defaultEventsUrl: options.engineUrl ? engineEndpoint(options.engineUrl, '/v1/events') : undefined,
      children: new ChildSpawner({ token: options.token, fetch: engineFetch }),
      tracing: options.tracing ? new RunTracing(options.name) : undefined,
    },
    metrics,
    new RunLog(log, options.logRuns ?? 'debug'),
    new EventsOrigins(options.token, options.engineUrl, options.eventsOrigins),
  );
  metrics.gauge('pushworker_slots_total', 'Slot units this worker offers.', () => slots.total);
  metrics.gauge('pushworker_slots_used', 'Slot units held by runs.', () => slots.used);

  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_WORKER_MAX_BODY_BYTES;
  let registeredUrl = options.url;
  const manifest = (): Registration => ({
    name: options.name,
    ...(registeredUrl ? { url: registeredUrl } : {}),
    slots: slots.total,
    maxBodyBytes,
    labels: options.labels ?? {},
    tasks: served.map(manifestOf),
    ...(options.workflows?.length ? { workflows: options.workflows.map(workflowManifestOf) } : {}),
  });
  let stopping: Promise<void> | undefined;
  const state = { stopping: false };
  const link = options.engineUrl
    ? new EngineLink({
        engineUrl: options.engineUrl,
        token: options.token,
        heartbeatMs,
        manifest,
        slots: () => ({ total: slots.total, used: slots.used }),
        log,
        fetch: engineFetch,
      })
    : undefined;

  const health = (): Health => ({
    status: state.stopping ? 'stopping' : 'ok',
    name: options.name,
    slots: { total: slots.total, used: slots.used },
    tasks: [...tasks.keys()],
  });

  const app = createPushApp({
    name: options.name,
    mode,
    keys: keySetOf(options),
    replay: options.replay ?? new MemoryReplayStore(),
    issuer: options.issuer,
    clockToleranceS: options.clockToleranceS,
    maxBodyBytes,
    unverifiedBodies: {
      timeoutMs: options.unverifiedBodyTimeoutMs ?? 5_000,
      maxAtOnce: options.maxUnverifiedBodies ?? 64,
    },
    syncFlushTimeoutMs: options.syncFlushTimeoutMs ?? 10_000,
    runner,
    reporter,
    metrics,
    log,
    manifest,
    health,
    isStopping: () => state.stopping,
    tasks: served,
    workflows: options.workflows ?? [],
    hatchet: options.hatchet,
    platform,
  });

  const stop = async (graceMs: number) => {
    state.stopping = true;
    log.info('stopping: no new runs accepted', { inFlight: runner.size, graceMs });
    if (!(await runner.whenIdle(graceMs))) {
      log.warn('grace period over; aborting runs still in flight', { inFlight: runner.size });
      runner.abortAll('the worker is shutting down');
      await runner.whenIdle(1_000);
    }
    await link?.stop();
    if (!(await reporter.flush(Math.max(graceMs, 1_000)))) {
      log.error('events still undelivered at shutdown', { pending: reporter.pending });
    }
    log.info('stopped');
  };

  return Object.assign(identity, {
    name: options.name,
    mode,
    app,
    fetch: app.fetch,
    metrics,
    log,
    manifest,
    health,
    start({ listeningUrl }: { listeningUrl?: string } = {}) {
      registeredUrl ??= listeningUrl;
      log.info(`starting worker '${options.name}'`, { slots: slots.total, mode });
      log.info(`'${options.name}' waiting for [${[...tasks.keys()].map((t) => `'${t}'`).join(', ')}]`);
      if (link) link.start();
      else log.warn('no engine URL configured: the worker will not register or send events');
    },
    stop({ graceMs = options.shutdownGraceMs ?? 30_000 } = {}) {
      stopping ??= stop(graceMs);
      return stopping;
    },
    flush: (timeoutMs: number | undefined) => reporter.flush(timeoutMs),
  }) satisfies Worker;
}

/** The tasks given alone, then each workflow's not given before: one task object may be in both. */
function servedTasks(options: WorkerOptions): AnyTask[] {
  const all = [...(options.tasks ?? [])];
  const workflowNames = new Set<string>();
  for (const w of options.workflows ?? []) {
    if (workflowNames.has(w.name)) throw new TypeError(`two workflows are named "${w.name}"`);
    workflowNames.add(w.name);
    for (const t of w.tasks) if (!all.includes(t)) all.push(t);
  }
  return all;
}

function keySetOf({ keys, hatchet }: WorkerOptions): KeySet | undefined {
  if (typeof keys === 'function') return keys;
  const configured = keys && (keys.jwks || keys.jwksUrl || [keys.secret ?? []].flat().length > 0);
  // A Hatchet-only endpoint verifies HMAC signatures instead and serves no pushworker push route.
  if (!configured && hatchet) return undefined;
  return createKeySet(keys ?? {});
}
