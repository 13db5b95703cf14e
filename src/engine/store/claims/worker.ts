// The worker a claim is for: its row, locked where other connections claim too, and the slot-units it holds.
import type { TaskManifest } from '../../../protocol/schemas.ts';
import type { Row, SqlClient } from '../sql.ts';

export interface ClaimingWorker extends Row {
  state: string;
  paused: boolean;
  slots: number;
  labels: unknown;
  tasks: TaskManifest[];
  /** Slot-units held by its assigned and running runs. */
  used: number;
}

/**
 * Locks the worker row and rewrites it unchanged; $1 the worker. The lock serialises claims for one worker
 * across connections, so its slots are never overcommitted. The new row version tells a head claim whose
 * snapshot predates this claim that it must not trust its count of free slots (CLAIM_HEAD_CHECKED).
 */
export const LOCK_WORKER = `UPDATE pw_workers SET state = pw_workers.state WHERE id = $1
  RETURNING state, paused, slots, labels, tasks`;

/** Slot-units the worker $1 holds: those of its assigned and running runs that have not released their slot. */
export const WORKER_USAGE = `SELECT coalesce(sum(slot_cost), 0)::int AS used FROM pw_runs
  WHERE worker_id = $1 AND state IN ('ASSIGNED', 'RUNNING') AND NOT slot_released`;

/** The worker $1 and the slot-units it holds, in one statement and unlocked. */
export const READ_WORKER = `SELECT state, paused, slots, labels, tasks,
    (SELECT coalesce(sum(slot_cost), 0)::int FROM pw_runs
     WHERE worker_id = $1 AND state IN ('ASSIGNED', 'RUNNING') AND NOT slot_released) AS used
  FROM pw_workers WHERE id = $1`;

/** The worker, for a claim in the transaction `tx`; undefined when there is no such worker. */
export async function readWorker(
  tx: SqlClient,
  serial: boolean,
  workerId: string,
): Promise<ClaimingWorker | undefined> {
  // On a serial driver nothing commits in between, so the usage is read in the same statement, without a lock.
  if (serial) {
    const [worker] = await tx.query<ClaimingWorker>(READ_WORKER, [workerId]);
    return worker;
  }
  const [worker] = await tx.query<ClaimingWorker>(LOCK_WORKER, [workerId]);
  if (!worker) return undefined;
  // A statement of its own: its snapshot, taken after the lock, sees the claims committed while we waited.
  const [usage] = await tx.query<{ used: number }>(WORKER_USAGE, [workerId]);
  return { ...worker, used: usage?.used ?? 0 };
}
