// The rate limits and concurrency tasks declare in their workers' manifests, read at enqueue.
import type { ConcurrencySpec, RateLimitSpec } from '../protocol/schemas.ts';
import type { SqlClient } from './store/sql.ts';

/** How long a task's declarations are believed without asking the store again. */
const FRESH_MS = 1_000;

export interface TaskDeclaration {
  rateLimits: RateLimitSpec[];
  concurrency: ConcurrencySpec | undefined;
}

const NONE: TaskDeclaration = { rateLimits: [], concurrency: undefined };

/**
 * The declaration of each task, from the manifest of the worker that serves it and was heard from last (an ACTIVE one
 * before others). Kept for a second, so that busy enqueues cost no query; a worker that registers with new
 * declarations is heard of within that second.
 */
export class TaskDeclarations {
  private cache = new Map<string, { at: number; declaration: TaskDeclaration }>();

  constructor(private readonly sql: SqlClient) {}

  /**
   * The declarations as read from within a transaction: through its own client, which on the embedded store is
   * the only one (a read through another would wait for the transaction for ever).
   */
  within(tx: SqlClient): Pick<TaskDeclarations, 'of'> {
    return { of: (tasks, now) => this.of(tasks, now, tx) };
  }

  /** `client` reads what is stale: the store by default, or a transaction's client from within it. */
  async of(
    tasks: Iterable<string>,
    now = Date.now(),
    client: SqlClient = this.sql,
  ): Promise<Map<string, TaskDeclaration>> {
    const wanted = [...new Set(tasks)];
    const stale = wanted.filter((t) => (this.cache.get(t)?.at ?? -Infinity) < now - FRESH_MS);
    if (stale.length > 0) {
      const rows = await client.query<{ task: string; manifest: Record<string, unknown> }>(
        `SELECT DISTINCT ON (t ->> 'name') t ->> 'name' AS task, t AS manifest
         FROM pw_workers w, jsonb_array_elements(w.tasks) t
         WHERE t ->> 'name' = ANY($1::text[])
         ORDER BY t ->> 'name', (w.state = 'ACTIVE' AND NOT w.paused) DESC, w.last_heartbeat_at DESC`,
        [stale],
      );
      const found = new Map(rows.map((r) => [r.task, r.manifest]));
      for (const task of stale) {
        const manifest = found.get(task);
        const declaration = manifest
          ? {
              rateLimits: (manifest.rateLimits as RateLimitSpec[] | undefined) ?? [],
              concurrency: manifest.concurrency as ConcurrencySpec | undefined,
            }
          : NONE;
        this.cache.set(task, { at: now, declaration });
      }
    }
    return new Map(wanted.map((t) => [t, this.cache.get(t)?.declaration ?? NONE]));
  }
}
