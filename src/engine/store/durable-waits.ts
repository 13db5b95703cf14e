// Durable runs waiting for an event: a published event wakes every one whose wait it matches, in its transaction.
import type { ReceivedEvent } from '../../protocol/journal.ts';
import type { SqlClient } from './sql.ts';

/**
 * Wakes the runs suspended on a wait for `$1` whose filter the payload `$4` contains (all of them without a
 * filter): the event goes into the wait's journal entry and the run is due now. A run whose wait has timed out
 * (due already) is not woken: its timeout stands. $2 the event as the run receives it, $3 now.
 */
const WAKE_WAITING_RUNS = `UPDATE pw_runs r SET available_at = $3, waiting = NULL,
    journal = jsonb_set(r.journal, ARRAY[r.waiting ->> 'entry'],
      (r.journal -> (r.waiting ->> 'entry')) || jsonb_build_object('received', $2::jsonb))
  WHERE r.state = 'QUEUED' AND r.waiting IS NOT NULL AND r.waiting ->> 'event' = $1 AND r.available_at > $3
    AND (r.waiting -> 'filter' IS NULL OR $4::jsonb @> (r.waiting -> 'filter'))
  RETURNING r.id`;

export async function wakeWaitingRuns(tx: SqlClient, event: ReceivedEvent, now: number): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(WAKE_WAITING_RUNS, [
    event.name,
    JSON.stringify(event),
    now,
    JSON.stringify(event.payload ?? null),
  ]);
  return rows.map((r) => r.id);
}
