// Enqueueing from the API: limits resolved, runs inserted (group-committed), cancelling strategies applied.

import type { z } from 'zod';
import type { EnqueueRequest } from '../protocol/api.ts';
import { PushworkerError } from '../protocol/errors.ts';
import { SpanAttributes } from '../tracing/tracing.ts';
import { type RunTimes, runTimesOf } from './api/run-times.ts';
import type { EngineCore } from './core.ts';
import { newRunId } from './ids.ts';
import { announceCancelled } from './run-cancel.ts';
import { type RunLimits, resolveRunLimits } from './run-limits.ts';
import { applyCancellingStrategies, type CancellingKey } from './store/concurrency.ts';
import type { Inserted, NewRun } from './store/runs.ts';

type Request = z.infer<typeof EnqueueRequest>;

/** The run an enqueue request makes, its times and limits resolved (also the runs a published event enqueues). */
export function newRunOf(
  request: Request,
  times: RunTimes,
  limits: RunLimits,
  createdBy: string | null,
): NewRun {
  return {
    id: newRunId(),
    task: request.task,
    input: request.input,
    metadata: request.metadata,
    priority: request.priority,
    idempotencyKey: request.idempotencyKey,
    requiredLabels: request.affinity?.required,
    preferredLabels: request.affinity?.preferred,
    stickyKey: request.sticky?.key,
    stickyMode: request.sticky?.mode,
    concurrencyKey: limits.concurrency?.key,
    concurrencyLimit: limits.concurrency?.limit,
    concurrencyStrategy: limits.concurrency?.strategy,
    rateLimits: limits.rateLimits,
    timeoutMs: request.timeoutMs,
    retries: request.retries,
    slotCost: request.slotCost,
    createdBy,
    availableAt: times.availableAt,
    expiresAt: times.expiresAt,
    traceparent: request.traceparent,
  };
}

/** Each request's due time and queue deadline; in a bulk enqueue, a refusal names the run by its index. */
function timesOf(requests: Request[], now: number, bulk: boolean): RunTimes[] {
  return requests.map((request, index) => {
    try {
      return runTimesOf(request, now);
    } catch (error) {
      if (!bulk || !(error instanceof PushworkerError)) throw error;
      throw new PushworkerError(error.code, `runs[${index}]: ${error.message}`, { index });
    }
  });
}

/**
 * Enqueues the requests in order (a bulk one refused whole when any run's times are refused) and answers with each run as it is after its key's cancelling strategy, if any:
 * a run CANCEL_NEWEST turned away is returned CANCELLED, and runs CANCEL_IN_PROGRESS cancelled on workers are
 * told to stop, as a cancel through the API does (their live children are cancelled after the answer). Child runs
 * of a `parent` attempt go in a transaction of their own that refuses them (409 `conflict`) unless that attempt
 * is still under way: none is created under a run once it is cancelled.
 */
export async function enqueueRuns(
  core: EngineCore,
  requests: Request[],
  createdBy: string | null,
  options: { bulk?: boolean; parent?: { runId: string; attempt: number } } = {},
): Promise<Inserted[]> {
  const now = Date.now();
  const times = timesOf(requests, now, options.bulk ?? false);
  const limits = await resolveRunLimits(core.sql, core.declarations, requests, now);
  const parent = options.parent;
  const spans = core.tracing ? requests.map((r) => core.tracing!.enqueue(r.task, r.traceparent)) : [];
  const runs = requests.map((r, i) => ({
    ...newRunOf(r, times[i]!, limits[i]!, createdBy),
    ...(parent ? { parentRunId: parent.runId } : {}),
  }));
  // Traced, a run's spans descend from its enqueue span, itself the caller's span's child.
  for (const [i, span] of spans.entries()) {
    runs[i]!.traceparent = span.traceparent;
    span.set({ [SpanAttributes.runId]: runs[i]!.id });
  }
  let results: Inserted[];
  try {
    results = parent ? await core.intake.enqueueChildren(parent, runs) : await core.intake.enqueue(runs);
  } catch (error) {
    for (const span of spans) span.fail(String((error as Error)?.message ?? error));
    throw error;
  } finally {
    for (const span of spans) span.end();
  }
  const keys = new Map<string, CancellingKey>();
  for (const { run, created } of results) {
    const strategy = run.concurrencyStrategy;
    if (
      !created ||
      !run.concurrencyKey ||
      (strategy !== 'CANCEL_NEWEST' && strategy !== 'CANCEL_IN_PROGRESS')
    ) {
      continue;
    }
    keys.set(run.concurrencyKey, { key: run.concurrencyKey, limit: run.concurrencyLimit ?? 1, strategy });
  }
  const outcomes = await applyCancellingStrategies(core.sql, [...keys.values()], now);
  if (outcomes.length === 0) return results;
  announceCancelled(core, outcomes);
  // The enqueue does not wait for the cascade to the children of the runs it cancelled.
  if (outcomes.some((o) => o.run.cancelChildren)) core.childCancels.start();
  const cancelled = new Map(outcomes.map((o) => [o.run.id, o.run]));
  return results.map((r) => ({ ...r, run: cancelled.get(r.run.id) ?? r.run }));
}
