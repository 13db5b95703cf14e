// Cancelling runs: the store first, then the workers holding them are told, and waiters wake. A cancel through the
// API waits for the cascade to the run's live child runs before it answers.
import type { EngineCore } from './core.ts';
import type { RunRecord } from './store/records.ts';
import { type CancelOutcome, cancelRun } from './store/runs.ts';

/** What telling of cancelled runs needs: the signals and the cancel push. */
export type CancelNotice = Pick<EngineCore, 'signals' | 'cancelOnWorker'>;

/**
 * What follows runs cancelled in the store, whichever cancel it was (the API, a workflow cancel, a cancelling
 * concurrency strategy, a parent's cancel): their waiters wake, and those that were on a worker free their slots
 * and their places under a concurrency limit at once, and their workers are told to stop them (best effort).
 */
export function announceCancelled(o: CancelNotice, outcomes: CancelOutcome[]): void {
  if (outcomes.length === 0) return;
  o.signals.done(outcomes.map((c) => c.run.id));
  const byWorker = new Map<string, { runId: string; attempt: number }[]>();
  for (const { run, notify } of outcomes) {
    if (!notify) continue;
    const refs = byWorker.get(notify.workerId) ?? [];
    refs.push({ runId: run.id, attempt: notify.attempt });
    byWorker.set(notify.workerId, refs);
  }
  if (byWorker.size === 0) return;
  o.signals.freed(byWorker.keys());
  o.signals.wake();
  for (const [workerId, refs] of byWorker) o.cancelOnWorker(workerId, refs).catch(() => {});
}

/**
 * Cancels a queued or running run (a finished one is returned as it is); undefined when there is no such run. A
 * run cancelled with live children answers once the cascade has cancelled them (and theirs), so that a client
 * reading them next finds them CANCELLED.
 */
export async function cancelRunNow(core: EngineCore, id: string): Promise<RunRecord | undefined> {
  const outcome = await cancelRun(core.sql, id, Date.now());
  if (!outcome) return undefined;
  if (outcome.run.state === 'CANCELLED') announceCancelled(core, [outcome]);
  if (outcome.run.cancelChildren) await core.childCancels.run();
  return outcome.run;
}
