// Child runs and the cancel of their parents: a spawn refused once its parent's attempt is over (or the parent is
// cancelled), and the cascade that cancels the live children of cancelled runs, a batch at a time, down to their
// own children.
import { type RunRecord, toRun } from './records.ts';
import { CANCELLED, type CancelOutcome, cancelOutcomes, HAS_LIVE_CHILDREN } from './runs.ts';
import type { Sql, SqlClient } from './sql.ts';

/** Most cancelled parents, and most children, one batch of the cascade takes. */
export const CHILD_CANCEL_BATCH = 100;

/**
 * Locks the run a child is spawned under, FOR KEY SHARE, in the spawn's transaction: a cancel (which locks the
 * run FOR UPDATE before it looks for live children, see `CANCELLED` in runs.ts) waits for the spawn to commit and
 * then sees its child, or the spawn waits for the cancel and then reads the run CANCELLED. Answers the run as it
 * is now; undefined when there is no such run.
 */
export async function lockSpawningParent(tx: SqlClient, runId: string): Promise<RunRecord | undefined> {
  const rows = await tx.query('SELECT * FROM pw_runs WHERE id = $1 FOR KEY SHARE', [runId]);
  return rows[0] ? toRun(rows[0]) : undefined;
}

/**
 * Why a child may not be spawned under `parent` for its attempt `attempt`, if it may not: the attempt is no longer
 * under way, or the run was cancelled (its children are being cancelled, and a new one would outlive it).
 */
export function spawnConflict(parent: RunRecord, attempt: number): string | undefined {
  if (parent.state === 'CANCELLED') return 'the run was cancelled: no child run starts under it';
  const current = parent.attempt === attempt && (parent.state === 'ASSIGNED' || parent.state === 'RUNNING');
  return current ? undefined : `attempt ${attempt} of the run is not running`;
}

/**
 * How many cancelled runs are flagged (at most $1): most sweeps find none and open no transaction; those of them
 * the batch then cannot lock are held elsewhere (see `blocked`).
 */
const COUNT_FLAGGED = `SELECT count(*)::int AS n FROM (
    SELECT 1 FROM pw_runs WHERE cancel_children AND state = 'CANCELLED' LIMIT $1) flagged`;

/**
 * The flagged cancelled runs of a batch, oldest first, locked FOR NO KEY UPDATE: another replica's batch takes
 * others, and a retry of one of them (whose update clears the flag) waits for the batch, so that no child of a run
 * retried meanwhile is cancelled. The lock does not conflict with a spawn's FOR KEY SHARE, which the spawn holds
 * only to read the run CANCELLED and refuse: a run is not passed over for that.
 */
const LOCK_FLAGGED = `SELECT id FROM pw_runs WHERE cancel_children AND state = 'CANCELLED'
  ORDER BY seq LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED`;

/**
 * Live children of the runs $1, locked FOR UPDATE (through `pw_runs_live_children`), a lock that conflicts with a
 * spawn's FOR KEY SHARE: a child with a spawn under way under it is left for a later batch, whose cancel then sees
 * the new grandchild. A child locked elsewhere (a claim, an event batch) is left for a later batch too.
 */
const LOCK_LIVE_CHILDREN = `SELECT id, state, worker_id, attempt FROM pw_runs
  WHERE parent_run_id = ANY($1::text[]) AND state IN ('QUEUED', 'ASSIGNED', 'RUNNING')
  LIMIT $2 FOR UPDATE SKIP LOCKED`;

/**
 * Cancels the runs $1 at $2 as `ParentCancelled` (not retryable), the error naming the parent; a child with live
 * children of its own is flagged in turn (see `CANCELLED`), so that the cascade goes down every generation.
 */
const CANCEL_CHILD_RUNS = `UPDATE pw_runs r SET ${CANCELLED},
    error = jsonb_build_object('message', 'its parent run ' || r.parent_run_id || ' was cancelled',
      'name', 'ParentCancelled', 'retryable', false)
  WHERE r.id = ANY($1::text[]) RETURNING r.*`;

/** Of the runs $1, those left with no live child are done with: their flag goes. */
const CLEAR_FLAGS = `UPDATE pw_runs r SET cancel_children = false
  WHERE r.id = ANY($1::text[]) AND r.cancel_children AND NOT ${HAS_LIVE_CHILDREN} RETURNING r.id`;

export interface ChildCancelBatch {
  /** The child runs this batch cancelled (their number is `cancelled.length`), each with its worker to tell. */
  cancelled: CancelOutcome[];
  /** Cancelled runs whose flag this batch cleared: none of their children is live any more. */
  cleared: number;
  /**
   * Flagged runs this batch could not finish for locks held elsewhere: runs another batch holds, or runs left
   * with live children it could not lock. Such locks are short (a claim, an event batch, a spawn, a batch of
   * another replica): a batch that changes nothing but is blocked is worth trying again shortly.
   */
  blocked: number;
}

/**
 * One batch of the cascade, in one transaction: up to `CHILD_CANCEL_BATCH` live children of flagged cancelled
 * runs are cancelled, and the runs left with no live child lose their flag. Nothing changes when no run is flagged,
 * or when every run and child it would take is locked elsewhere (`blocked` then says so).
 */
export async function cancelChildrenOfCancelled(sql: Sql, now = Date.now()): Promise<ChildCancelBatch> {
  const none: ChildCancelBatch = { cancelled: [], cleared: 0, blocked: 0 };
  const flagged = (await sql.query<{ n: number }>(COUNT_FLAGGED, [CHILD_CANCEL_BATCH]))[0]?.n ?? 0;
  if (flagged === 0) return none;
  return sql.transaction(async (tx) => {
    const parents = (await tx.query<{ id: string }>(LOCK_FLAGGED, [CHILD_CANCEL_BATCH])).map((r) => r.id);
    const elsewhere = Math.max(0, flagged - parents.length);
    if (parents.length === 0) return { ...none, blocked: elsewhere };
    const children = await tx.query(LOCK_LIVE_CHILDREN, [parents, CHILD_CANCEL_BATCH]);
    const cancelled =
      children.length > 0
        ? cancelOutcomes(await tx.query(CANCEL_CHILD_RUNS, [children.map((c) => c.id), now]), children)
        : [];
    const cleared = (await tx.query(CLEAR_FLAGS, [parents])).length;
    // Left flagged with no child locked here: each of its live children is locked elsewhere.
    const stuck = children.length === 0 ? parents.length - cleared : 0;
    return { cancelled, cleared, blocked: elsewhere + stuck };
  });
}
