// Which tasks some ACTIVE worker serves now, for the warnings of an enqueue nothing can run yet.
import type { SqlClient } from './store/sql.ts';

/** How long a task seen served is believed served without asking the store again. */
const SEEN_MS = 1_000;

/**
 * A task seen served is remembered for a second, so that busy enqueues of served tasks cost no query; a task not
 * seen is asked about each time, so that a worker that has just registered is never missed.
 */
export class ServedTasks {
  private seen = new Map<string, number>();

  constructor(private readonly sql: SqlClient) {}

  /** The tasks among `tasks` that no ACTIVE, unpaused worker serves. */
  async unserved(tasks: Iterable<string>, now = Date.now()): Promise<string[]> {
    const unknown = [...new Set(tasks)].filter((t) => (this.seen.get(t) ?? 0) < now - SEEN_MS);
    if (unknown.length === 0) return [];
    const rows = await this.sql.query<{ task: string }>(
      `SELECT DISTINCT t->>'name' AS task FROM pw_workers w, jsonb_array_elements(w.tasks) t
       WHERE w.state = 'ACTIVE' AND NOT w.paused AND t->>'name' = ANY($1::text[])`,
      [unknown],
    );
    for (const { task } of rows) this.seen.set(task, now);
    const served = new Set(rows.map((r) => r.task));
    return unknown.filter((t) => !served.has(t));
  }
}

export function unservedWarning(task: string): string {
  return `no ACTIVE worker serves the task "${task}"; the run waits in the queue until one registers`;
}
