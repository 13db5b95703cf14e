// Runs suspended until a child run ends: woken, with the child's outcome in their journal, once it has.
import type { SqlClient } from './sql.ts';

/**
 * Wakes the parents waiting on the ended children among `$1` (every ended child when `$1` is null): the child's
 * state, output and error go into the wait's journal entry as `result`, and the parent is due at `$2`. A parent
 * whose wait timed out (due already) is left to its timeout. `json` output is read as `jsonb` to go in the entry.
 */
const WAKE_PARENTS = `UPDATE pw_runs p SET available_at = $2, waiting = NULL,
    journal = jsonb_set(p.journal, ARRAY[p.waiting ->> 'entry'],
      (p.journal -> (p.waiting ->> 'entry')) || jsonb_build_object('result',
        jsonb_build_object('state', c.state, 'output', c.output::jsonb, 'error', c.error)))
  FROM pw_runs c
  WHERE p.state = 'QUEUED' AND (p.waiting ->> 'child') IS NOT NULL AND c.id = (p.waiting ->> 'child')
    AND ($1::text[] IS NULL OR (p.waiting ->> 'child') = ANY($1::text[]))
    AND c.state IN ('COMPLETED', 'FAILED', 'CANCELLED') AND p.available_at > $2
  RETURNING p.id`;

/** Parents woken, of the children `childIds` (all ended children's parents when undefined). */
export async function wakeParents(
  sql: SqlClient,
  childIds: string[] | undefined,
  now: number,
): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(WAKE_PARENTS, [childIds ?? null, now]);
  return rows.map((r) => r.id);
}

/** Whether any run waits on a child now. */
export async function anyWaitingOnChild(sql: SqlClient): Promise<boolean> {
  const rows = await sql.query<{ any: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pw_runs WHERE state = 'QUEUED' AND (waiting ->> 'child') IS NOT NULL) AS any`,
  );
  return rows[0]?.any === true;
}
