// What holds queued runs back, read for the runs an answer shows: no worker, a rate limit, a full concurrency key.
import type { EngineCore } from '../core.ts';
import { COUNT_ACTIVE_BY_KEY } from '../store/claims/keys.ts';
import { rateLimitHoldings } from '../store/rate-limits.ts';
import type { RunRecord } from '../store/records.ts';
import type { QueuedHold } from './views.ts';

/**
 * The hold of each QUEUED run among `runs` that is due (a delay or a back-off says itself from the record): its
 * task served by no ACTIVE worker, a rate limit without room, or its concurrency key at its limit. Three queries
 * at most for the whole page: the tasks served, the concurrency keys' runs, the rate limits.
 */
export async function queuedHolds(
  core: EngineCore,
  runs: RunRecord[],
  now: number,
): Promise<Map<string, QueuedHold>> {
  const due = runs.filter((r) => r.state === 'QUEUED' && r.availableAt <= now);
  const holds = new Map<string, QueuedHold>();
  if (due.length === 0) return holds;
  const unserved = new Set(await core.served.unserved([...new Set(due.map((r) => r.task))]));
  const keys = [...new Set(due.flatMap((r) => (r.concurrencyKey ? [r.concurrencyKey] : [])))];
  const active = new Map<string, number>();
  if (keys.length > 0) {
    const rows = await core.sql.query<{ concurrency_key: string; n: number }>(COUNT_ACTIVE_BY_KEY, [keys]);
    for (const row of rows) active.set(row.concurrency_key, row.n);
  }
  const limited = await rateLimitHoldings(core.sql, due, now);
  for (const run of due) {
    const running = run.concurrencyKey ? (active.get(run.concurrencyKey) ?? 0) : 0;
    const hold: QueuedHold = {
      unserved: unserved.has(run.task),
      limited: limited.get(run.id),
      ...(run.concurrencyKey && running >= (run.concurrencyLimit ?? 1)
        ? { concurrency: { key: run.concurrencyKey, limit: run.concurrencyLimit ?? 1, running } }
        : {}),
    };
    holds.set(run.id, hold);
  }
  return holds;
}
