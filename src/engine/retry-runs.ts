// Manual retries of runs: traced, each run queued again gets a retry span, linked to its earlier trace, as its own.
import type { EngineCore } from './core.ts';
import type { RunRecord } from './store/records.ts';
import {
  type RetryFilter,
  type RetryOutcome,
  retryRun,
  retryRuns,
  setTraceparents,
} from './store/retries.ts';
import { getRun } from './store/runs.ts';
import { withinSpan } from './tracing.ts';

/** Queues one finished run again (see `retryRun`); `callerTraceparent` is the retry request's span. */
export async function retryOne(
  core: EngineCore,
  id: string,
  callerTraceparent: string | undefined,
): Promise<RetryOutcome> {
  const now = Date.now();
  if (!core.tracing) return retryRun(core.sql, id, now);
  const known = await getRun(core.sql, id);
  if (!known) return undefined;
  const span = core.tracing.retry(known, callerTraceparent);
  return withinSpan(span, undefined, (traceparent) => retryRun(core.sql, id, now, traceparent));
}

/** Queues again the finished runs `filter` selects (see `retryRuns`), each with its retry span. */
export async function retryMany(
  core: EngineCore,
  filter: RetryFilter,
  callerTraceparent: string | undefined,
): Promise<RunRecord[]> {
  const now = Date.now();
  const tracing = core.tracing;
  if (!tracing) return retryRuns(core.sql, filter, now);
  // One transaction, so that no run is claimed before it carries its retry's trace.
  return core.sql.transaction(async (tx) => {
    const runs = await retryRuns(tx, filter, now);
    const spans = runs.map((run) => tracing.retry(run, callerTraceparent));
    await setTraceparents(tx, new Map(runs.map((run, i) => [run.id, spans[i]!.traceparent])));
    for (const span of spans) span.end();
    return runs.map((run, i) => ({ ...run, traceparent: spans[i]!.traceparent }));
  });
}
