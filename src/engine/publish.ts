// Publishing events from the API: each listening task's run resolved as an enqueue's would be, then stored at once.

import type { z } from 'zod';
import type { EnqueueRequest } from '../protocol/api.ts';
import { PushworkerError } from '../protocol/errors.ts';
import type { PublishEventRequest } from '../protocol/published-events.ts';
import { SpanAttributes } from '../tracing/tracing.ts';
import { runTimesOf } from './api/run-times.ts';
import type { EngineCore } from './core.ts';
import { newRunOf } from './enqueue.ts';
import { uuidv7 } from './ids.ts';
import { resolveRunLimits } from './run-limits.ts';
import {
  type EventRecord,
  eventRunKey,
  eventWorkflowRunKey,
  listeningTasks,
  listeningWorkflows,
  type PublishedEvent,
  publishEvent,
  setEventWorkflowRuns,
} from './store/published-events.ts';
import { withinSpan } from './tracing.ts';
import { enqueueWorkflow } from './workflows/enqueue.ts';

type Request = z.infer<typeof PublishEventRequest>;

/**
 * Publishes one event: a run of each task whose manifest lists its name in `on:`, with the payload as input and the
 * event named in the run's metadata, each keyed by the event and the task so that it is enqueued once however
 * often the event is published. A listener's rate limit or concurrency key that the payload cannot fill in refuses
 * the publish (`unresolved_key`), naming the task; nothing is stored then.
 */
export function publish(
  core: EngineCore,
  request: Request,
  createdBy: string | null,
  callerTraceparent?: string,
): Promise<PublishedEvent> {
  const id = request.id ?? `evt_${uuidv7()}`;
  const span = core.tracing?.publish(request.name, callerTraceparent);
  span?.set({ [SpanAttributes.event]: id });
  return withinSpan(span, callerTraceparent, (traceparent) =>
    publishTraced(core, { ...request, id }, createdBy, traceparent),
  );
}

/** The publish of an event whose id is chosen, every run it enqueues carrying `traceparent`. */
async function publishTraced(
  core: EngineCore,
  request: Request & { id: string },
  createdBy: string | null,
  traceparent: string | undefined,
): Promise<PublishedEvent> {
  const now = Date.now();
  const id = request.id;
  const tasks = await listeningTasks(core.sql, request.name);
  const enqueues: z.infer<typeof EnqueueRequest>[] = tasks.map((task) => ({
    task,
    input: request.payload,
    idempotencyKey: eventRunKey(id, task),
    metadata: { 'pushworker.event': id, 'pushworker.eventName': request.name },
    ...(traceparent ? { traceparent } : {}),
  }));
  let limits: Awaited<ReturnType<typeof resolveRunLimits>>;
  try {
    limits = await resolveRunLimits(core.sql, core.declarations, enqueues, now);
  } catch (error) {
    if (!(error instanceof PushworkerError)) throw error;
    throw new PushworkerError(
      error.code,
      `a task listening for "${request.name}": ${error.message}`,
      error.details,
    );
  }
  const runs = enqueues.map((e, i) => newRunOf(e, runTimesOf(e, now), limits[i]!, createdBy));
  const published = await publishEvent(
    core.sql,
    { id, name: request.name, key: request.key, payload: request.payload, createdBy },
    runs,
    now,
  );
  if (published.enqueued > 0)
    core.metrics.count('pushworker_runs_enqueued_total', 'Runs enqueued.', {}, published.enqueued);
  if (published.woken > 0)
    core.metrics.count(
      'pushworker_waits_woken_total',
      'Durable runs woken by a published event.',
      {},
      published.woken,
    );
  if (published.enqueued > 0 || published.woken > 0) core.signals.wake();
  if (published.created) core.metrics.count('pushworker_events_published_total', 'Events published.');
  return {
    ...published,
    event: await enqueueListeningWorkflows(core, published.event, request, createdBy, traceparent),
  };
}

/**
 * A run of each workflow that lists the event in `on:`, keyed by the event and the workflow. After the event is
 * stored, not with it: a publish of the same id again enqueues any that a crash in between left out.
 */
async function enqueueListeningWorkflows(
  core: EngineCore,
  event: EventRecord,
  request: Request,
  createdBy: string | null,
  traceparent: string | undefined,
): Promise<EventRecord> {
  const workflows = await listeningWorkflows(core.sql, request.name);
  const known = new Set(event.workflowRuns.map((r) => r.workflow));
  const added: EventRecord['workflowRuns'] = [];
  for (const workflow of workflows.filter((w) => !known.has(w))) {
    const { run } = await enqueueWorkflow(
      core,
      {
        workflow,
        input: request.payload,
        idempotencyKey: eventWorkflowRunKey(event.id, workflow),
        metadata: { 'pushworker.event': event.id, 'pushworker.eventName': request.name },
      },
      createdBy,
      traceparent,
    );
    added.push({ id: run.id, workflow });
  }
  if (added.length === 0) return event;
  return (await setEventWorkflowRuns(core.sql, event.id, [...event.workflowRuns, ...added])) ?? event;
}
