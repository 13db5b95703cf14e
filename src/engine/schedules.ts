// Schedules as the engine keeps them: the first tick of an expression, and the code schedules manifests declare.
import { CronTicks } from '../protocol/cron.ts';
import type { TaskManifest } from '../protocol/schemas.ts';
import { removeUndeclaredCodeSchedules, upsertCodeSchedules } from './store/schedules.ts';
import type { SqlClient } from './store/sql.ts';

/** The first tick of an expression after `now`; null when it fires no more. */
export function firstTick(cron: string, timezone: string, now: number): number | null {
  return new CronTicks(cron, timezone).after(now);
}

/**
 * After a registration: stores the schedules the worker's tasks declare, and removes the code schedules that no
 * stored worker declares any more (the worker row must be stored first).
 */
export async function syncCodeSchedules(sql: SqlClient, tasks: TaskManifest[], now: number): Promise<void> {
  await upsertCodeSchedules(sql, tasks, (cron, timezone) => firstTick(cron, timezone, now), now);
  await removeUndeclaredCodeSchedules(sql);
}
