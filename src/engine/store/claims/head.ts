// The head claim: the head of the worker's queue in one statement, while its runs need no choice of the engine's.
import type { ClaimOptions, ClaimResult } from '../claims.ts';
import type { RunRecord } from '../records.ts';
import { toRun } from '../records.ts';
import type { Row, Sql } from '../sql.ts';
import { LOCK_WORKER } from './worker.ts';

/**
 * Claims the head of the worker's queue, in order, while its runs need no choice the SQL cannot make (no sticky
 * key, concurrency key, rate limit or preferred labels) and fit in the worker's free slots, with the slot costs, timeouts
 * and retries of the worker's manifest. Each task's queue is read through its own index, LATERAL, so that a
 * deep queue of a task the worker does not serve is not in the way.
 *
 * $1 the worker, $2 now, $3 the lease's end, $4 the most runs to claim. One row per claimed run in queue order,
 * or one row of nulls when none is, each with the worker's slots (`pw_slots`), its free slot-units before the
 * claim (`pw_free`) and how many runs the page read (`pw_page`); no row when the worker is not ACTIVE or is
 * paused.
 *
 * It trusts its snapshot's count of free slots: for a serial driver, where nothing commits meanwhile, or in a
 * transaction after LOCK_WORKER, whose snapshot sees every claim for the worker. The SET list is the one of
 * CLAIM_HEAD_CHECKED and of ASSIGN_CHOSEN (scan.ts): what a claim sets on each run it takes.
 */
export const CLAIM_HEAD = `WITH w AS (
    SELECT id, slots, labels, tasks,
      slots - (SELECT coalesce(sum(slot_cost), 0)::int FROM pw_runs
               WHERE worker_id = $1 AND state IN ('ASSIGNED', 'RUNNING') AND NOT slot_released) AS free
    FROM pw_workers WHERE id = $1 AND state = 'ACTIVE' AND NOT paused
  ),
  m AS (
    SELECT t ->> 'name' AS task, coalesce((t ->> 'slotCost')::int, 1) AS cost, (t ->> 'timeoutMs')::int AS timeout,
      (t ->> 'retries')::int AS retries
    FROM w, jsonb_array_elements(w.tasks) AS t
  ),
  page AS (
    SELECT q.* FROM m CROSS JOIN LATERAL (
      SELECT r.id, r.priority, r.seq, coalesce(r.slot_cost, m.cost) AS cost, m.timeout, m.retries,
        r.sticky_key IS NULL AND r.concurrency_key IS NULL AND r.preferred_labels IS NULL
          AND (r.rate_limits IS NULL OR coalesce(r.rate_units_try = r.failures, false)) AS simple
      FROM pw_runs r
      WHERE r.state = 'QUEUED' AND r.task = m.task AND r.available_at <= $2 AND (r.expires_at IS NULL OR r.expires_at > $2)
        AND (r.required_labels IS NULL OR r.required_labels <@ (SELECT labels FROM w))
      ORDER BY r.priority DESC, r.seq
      LIMIT $4
      FOR UPDATE OF r SKIP LOCKED
    ) AS q
    ORDER BY q.priority DESC, q.seq
    LIMIT $4
  ),
  pick AS (
    SELECT id, cost, timeout, retries, bool_and(simple) OVER o AS ok, sum(cost) OVER o AS total
    FROM page WINDOW o AS (ORDER BY priority DESC, seq ROWS UNBOUNDED PRECEDING)
  ),
  claimed AS (
    UPDATE pw_runs SET state = 'ASSIGNED', attempt = attempt + 1, deliveries = deliveries + 1, worker_id = $1,
      slot_cost = x.cost, timeout_ms = coalesce(pw_runs.timeout_ms, x.timeout), retries = coalesce(pw_runs.retries, x.retries),
      assigned_at = $2, lease_expires_at = $3, slot_released = false, ended_by_worker = false, deadline_at = NULL,
      started_at = NULL, expires_at = NULL, rate_units_try = pw_runs.failures
    FROM pick x, w
    WHERE pw_runs.id = x.id AND x.ok AND x.total <= w.free
    RETURNING pw_runs.*
  )
  SELECT w.slots AS pw_slots, w.free::int AS pw_free, (SELECT count(*) FROM page)::int AS pw_page, c.*
  FROM w LEFT JOIN claimed c ON true
  ORDER BY c.priority DESC, c.seq`;

/**
 * CLAIM_HEAD where another connection's claim for the same worker may commit after the statement's snapshot,
 * which would then overstate the worker's free slots. So it locks the worker row (`latest`) and claims only
 * while that row is still the version its snapshot read (`current`). Every claim rewrites the row: LOCK_WORKER
 * does, and so does this statement when it claims (`touched`, the same values in a new version), so a claim
 * committed since the snapshot is seen. `pw_current` is false on its one row when one was, and nothing is
 * claimed: the claim must run again, as CLAIM_HEAD in a transaction after LOCK_WORKER.
 */
export const CLAIM_HEAD_CHECKED = `WITH latest AS MATERIALIZED (SELECT xmin AS version FROM pw_workers WHERE id = $1 FOR UPDATE),
  w AS (
    SELECT id, slots, labels, tasks,
      slots - (SELECT coalesce(sum(slot_cost), 0)::int FROM pw_runs
               WHERE worker_id = $1 AND state IN ('ASSIGNED', 'RUNNING') AND NOT slot_released) AS free,
      xmin = (SELECT version FROM latest) AS current
    FROM pw_workers WHERE id = $1 AND state = 'ACTIVE' AND NOT paused
  ),
  m AS (
    SELECT t ->> 'name' AS task, coalesce((t ->> 'slotCost')::int, 1) AS cost, (t ->> 'timeoutMs')::int AS timeout,
      (t ->> 'retries')::int AS retries
    FROM w, jsonb_array_elements(w.tasks) AS t
  ),
  page AS (
    SELECT q.* FROM m CROSS JOIN LATERAL (
      SELECT r.id, r.priority, r.seq, coalesce(r.slot_cost, m.cost) AS cost, m.timeout, m.retries,
        r.sticky_key IS NULL AND r.concurrency_key IS NULL AND r.preferred_labels IS NULL
          AND (r.rate_limits IS NULL OR coalesce(r.rate_units_try = r.failures, false)) AS simple
      FROM pw_runs r
      WHERE r.state = 'QUEUED' AND r.task = m.task AND r.available_at <= $2 AND (r.expires_at IS NULL OR r.expires_at > $2)
        AND (r.required_labels IS NULL OR r.required_labels <@ (SELECT labels FROM w))
      ORDER BY r.priority DESC, r.seq
      LIMIT $4
      FOR UPDATE OF r SKIP LOCKED
    ) AS q
    ORDER BY q.priority DESC, q.seq
    LIMIT $4
  ),
  pick AS (
    SELECT id, cost, timeout, retries, bool_and(simple) OVER o AS ok, sum(cost) OVER o AS total
    FROM page WINDOW o AS (ORDER BY priority DESC, seq ROWS UNBOUNDED PRECEDING)
  ),
  claimed AS (
    UPDATE pw_runs SET state = 'ASSIGNED', attempt = attempt + 1, deliveries = deliveries + 1, worker_id = $1,
      slot_cost = x.cost, timeout_ms = coalesce(pw_runs.timeout_ms, x.timeout), retries = coalesce(pw_runs.retries, x.retries),
      assigned_at = $2, lease_expires_at = $3, slot_released = false, ended_by_worker = false, deadline_at = NULL,
      started_at = NULL, expires_at = NULL, rate_units_try = pw_runs.failures
    FROM pick x, w
    WHERE pw_runs.id = x.id AND x.ok AND x.total <= w.free AND w.current
    RETURNING pw_runs.*
  ),
  touched AS (
    UPDATE pw_workers SET state = pw_workers.state FROM w WHERE pw_workers.id = w.id AND w.current
  )
  SELECT w.slots AS pw_slots, w.free::int AS pw_free, (SELECT count(*) FROM page)::int AS pw_page,
    w.current AS pw_current, c.*
  FROM w LEFT JOIN claimed c ON true
  ORDER BY c.priority DESC, c.seq`;

export interface HeadClaim {
  result: ClaimResult;
  /** False when it stopped at a run that needs the scan claim, which then takes the rest. */
  complete: boolean;
}

/**
 * The common case in one statement. Undefined when the worker is not ACTIVE or is paused: the scan claim says
 * so. A serial driver runs CLAIM_HEAD alone; others run CLAIM_HEAD_CHECKED alone, and CLAIM_HEAD after a lock of
 * the worker row only when another claim for the worker committed after its snapshot.
 */
export async function claimHead(sql: Sql, o: ClaimOptions): Promise<HeadClaim | undefined> {
  const params = [o.workerId, o.now, o.now + o.leaseMs, o.max];
  let rows = await sql.query(sql.serial ? CLAIM_HEAD : CLAIM_HEAD_CHECKED, params);
  if (rows[0]?.pw_current === false) {
    rows = await sql.transaction(async (tx) => {
      await tx.query(LOCK_WORKER, [o.workerId]);
      return tx.query(CLAIM_HEAD, params);
    });
  }
  const [first] = rows;
  if (!first) return undefined;
  const slots = first.pw_slots as number;
  const free = first.pw_free as number;
  const page = first.pw_page as number;
  const runs = rows.filter((r) => r.id !== null).map(toClaimed);
  const used = slots - free + runs.reduce((sum, r) => sum + (r.slotCost ?? 1), 0);
  return { result: { runs, used, slots, dispatchable: true }, complete: runs.length === page };
}

function toClaimed(row: Row): RunRecord {
  const { pw_slots, pw_free, pw_page, pw_current, ...run } = row;
  return toRun(run);
}
