// Cancelling one run through the API: the store first, then the worker holding it is told, and waiters wake.
import type { EngineCore } from './core.ts';
import type { RunRecord } from './store/records.ts';
import { cancelRun } from './store/runs.ts';

/** Cancels a queued or running run (a finished one is returned as it is); undefined when there is no such run. */
export async function cancelRunNow(core: EngineCore, id: string): Promise<RunRecord | undefined> {
  const outcome = await cancelRun(core.sql, id, Date.now());
  if (!outcome) return undefined;
  if (outcome.notify) {
    const { workerId, attempt } = outcome.notify;
    core.signals.done([outcome.run.id]);
    core.signals.freed([workerId]);
    // Its slot, and its place under a concurrency limit, are free for the next run at once.
    core.signals.wake();
    core.cancelOnWorker(workerId, [{ runId: outcome.run.id, attempt }]).catch(() => {});
  } else if (outcome.run.state === 'CANCELLED') core.signals.done([outcome.run.id]);
  return outcome.run;
}
