// The scan claim: in a transaction, pages through the worker's queue and chooses its runs one by one.
import type { Labels, StickyMode, TaskManifest } from '../../../protocol/schemas.ts';
import type { Candidate, ClaimOptions, ClaimResult } from '../claims.ts';
import { type Consumed, consumeRateUnits, heldByRateLimit, UNITS_DUE } from '../rate-limits.ts';
import type { PreferredLabels, RateLimitUse, RunRecord } from '../records.ts';
import { toRun } from '../records.ts';
import type { Row, SqlClient } from '../sql.ts';
import { type Keys, lockKeys, NO_KEYS } from './keys.ts';
import { mergeTurns, takeInTurns } from './round-robin.ts';
import { readWorker } from './worker.ts';

/**
 * The columns a scan claim reads of each queued row. A run that took its rate limit units in this try (a push
 * resuming it after a suspension) reads as having none: it is not held back, and takes none.
 */
const QUEUE_COLUMNS = `r.id, r.seq, r.priority, r.task, r.slot_cost, r.required_labels, r.preferred_labels, r.sticky_key,
      r.sticky_mode, r.concurrency_key, r.concurrency_limit, ${UNITS_DUE} AS rate_limits`;

/**
 * The hard constraints on a queued row `r` that a page filters on, so that a long run of rows nobody here may take
 * cannot fill it: availability (due, not expired), labels, slot cost, concurrency limits reached, hard keys bound elsewhere, rate
 * limits whose window has no units left. They are checked again under the key locks. $2 now, $3 the worker's
 * labels, $5 the slot cost of each task in its manifest, $6 its free slot-units, $7 the worker.
 */
const ELIGIBLE = `r.available_at <= $2 AND (r.expires_at IS NULL OR r.expires_at > $2)
      AND (r.required_labels IS NULL OR r.required_labels <@ $3::jsonb)
      AND coalesce(r.slot_cost, ($5::jsonb ->> r.task)::int, 1) <= $6
      AND (r.concurrency_key IS NULL OR r.concurrency_limit > (
        SELECT count(*) FROM pw_runs a
        WHERE a.concurrency_key = r.concurrency_key AND a.state IN ('ASSIGNED', 'RUNNING')))
      AND (r.sticky_mode IS DISTINCT FROM 'hard' OR NOT EXISTS (
        SELECT 1 FROM pw_sticky s JOIN pw_workers w ON w.id = s.worker_id
        WHERE s.sticky_key = r.sticky_key AND s.worker_id <> $7 AND w.state <> 'INACTIVE'))
      AND NOT ${heldByRateLimit('$2')}`;

/**
 * A page of queued rows the worker could take, in priority order after ($8 priority, $9 seq) when given, each
 * task's queue read through its own index, LATERAL; rows of round-robin keys are read by READ_ROUND_ROBIN_PAGE.
 *
 * $1 the worker's tasks, $4 the page size; $2, $3, $5, $6 and $7 as in ELIGIBLE.
 */
export const READ_QUEUE_PAGE = `SELECT q.* FROM unnest($1::text[]) AS t(task) CROSS JOIN LATERAL (
    SELECT ${QUEUE_COLUMNS}
    FROM pw_runs r
    WHERE r.state = 'QUEUED' AND r.task = t.task AND r.concurrency_strategy IS DISTINCT FROM 'GROUP_ROUND_ROBIN'
      AND ${ELIGIBLE}
      AND ($8::int IS NULL OR r.priority < $8 OR (r.priority = $8 AND r.seq > $9::bigint))
    ORDER BY r.priority DESC, r.seq
    LIMIT $4
    FOR UPDATE OF r SKIP LOCKED
  ) AS q
  ORDER BY q.priority DESC, q.seq
  LIMIT $4`;

/**
 * The heads of the queues of round-robin concurrency keys of the worker's tasks: the $8 keys served least
 * recently (`served_at`, the last time a run of the key was assigned; null for never), in queue order within a
 * key, and of each as many rows as a fair share of $4 among the keys read, and one more (so that a key skipped
 * under its lock leaves room the others can fill). Parameters as in READ_QUEUE_PAGE.
 */
export const READ_ROUND_ROBIN_PAGE = `WITH k AS (
    SELECT g.task, g.concurrency_key,
      (SELECT max(a.assigned_at) FROM pw_runs a WHERE a.concurrency_key = g.concurrency_key) AS served_at
    FROM (SELECT DISTINCT r.task, r.concurrency_key FROM pw_runs r
          WHERE r.state = 'QUEUED' AND r.concurrency_strategy = 'GROUP_ROUND_ROBIN' AND r.task = ANY($1::text[])
            AND r.available_at <= $2) AS g
    ORDER BY served_at NULLS FIRST, g.concurrency_key
    LIMIT $8
  )
  SELECT q.*, k.served_at FROM k CROSS JOIN LATERAL (
    SELECT ${QUEUE_COLUMNS}
    FROM pw_runs r
    WHERE r.state = 'QUEUED' AND r.task = k.task AND r.concurrency_key = k.concurrency_key
      AND r.concurrency_strategy = 'GROUP_ROUND_ROBIN' AND ${ELIGIBLE}
    ORDER BY r.priority DESC, r.seq
    LIMIT ceil($4::numeric / (SELECT count(*) FROM k)) + 1
    FOR UPDATE OF r SKIP LOCKED
  ) AS q`;

/**
 * Assigns the chosen runs $4 (a recordset of id, cost, timeout and retries), whose ids are $5, to the worker
 * $1; $2 now, $3 the lease's end. The SET list is the one of the head claims (head.ts). On `id = ANY` beside
 * the recordset join, see "Bulk updates by id" in sql.ts.
 */
export const ASSIGN_CHOSEN = `UPDATE pw_runs SET state = 'ASSIGNED', attempt = attempt + 1, deliveries = deliveries + 1, worker_id = $1,
    slot_cost = x.cost, timeout_ms = coalesce(pw_runs.timeout_ms, x.timeout), retries = coalesce(pw_runs.retries, x.retries),
    assigned_at = $2, lease_expires_at = $3, slot_released = false, ended_by_worker = false, deadline_at = NULL,
    started_at = NULL, expires_at = NULL, rate_units_try = pw_runs.failures
  FROM jsonb_to_recordset($4::jsonb) AS x(id text, cost int, timeout int, retries int)
  WHERE pw_runs.id = x.id AND pw_runs.id = ANY($5::text[])
  RETURNING pw_runs.*`;

/** Binds the sticky keys $1 to the worker $2 at $3. */
export const BIND_STICKY_KEYS = `INSERT INTO pw_sticky (sticky_key, worker_id, updated_at)
  SELECT k, $2, $3 FROM unnest($1::text[]) AS k
  ON CONFLICT (sticky_key) DO UPDATE SET worker_id = excluded.worker_id, updated_at = excluded.updated_at`;

/** What the worker has room for when the claim begins. */
interface Room {
  manifests: ReadonlyMap<string, TaskManifest>;
  /** Its labels, as JSON. */
  labels: string;
  /** Free slot-units. */
  free: number;
  /** Most runs to choose. */
  limit: number;
}

/** A run the claim takes, with the keys its choice binds or counts. */
interface Chosen {
  id: string;
  cost: number;
  timeout: number | null;
  retries: number | null;
  stickyKey: string | null;
  concurrencyKey: string | null;
  rateLimits: RateLimitUse[];
}

/** The full claim, in the transaction `tx`, for what the head claim leaves. */
export async function claimScan(tx: SqlClient, serial: boolean, o: ClaimOptions): Promise<ClaimResult> {
  const worker = await readWorker(tx, serial, o.workerId);
  if (!worker) return { runs: [], used: 0, slots: 0, dispatchable: false };
  const none = { runs: [], used: worker.used, slots: worker.slots };
  if (worker.state !== 'ACTIVE' || worker.paused) return { ...none, dispatchable: false };
  const free = worker.slots - worker.used;
  const room: Room = {
    manifests: new Map(worker.tasks.map((t) => [t.name, t])),
    labels: JSON.stringify(worker.labels),
    free,
    limit: Math.min(free, o.max),
  };
  if (room.limit <= 0) return { ...none, dispatchable: true };

  const { chosen, keys } = await chooseRuns(tx, o, room);
  if (chosen.length === 0) return { ...none, dispatchable: true };
  const runs = await assign(tx, o, chosen, keys);
  return { runs, used: worker.used + costOf(chosen), slots: worker.slots, dispatchable: true };
}

/**
 * Pages through the queue until the batch is full or no eligible row is left: rows skipped here (soft
 * preferences, keys another replica is deciding, room used up within the page) never hide rows behind them.
 */
async function chooseRuns(
  tx: SqlClient,
  o: ClaimOptions,
  room: Room,
): Promise<{ chosen: Chosen[]; keys: Keys }> {
  const pageSize = room.limit + (o.scan ?? 32);
  let chosen: Chosen[] = [];
  let keys: Keys = NO_KEYS;
  let after: { priority: number; seq: number } | undefined;
  // Round-robin keys are read once, at the start, and their turns merged into the first page.
  let turns = takeInTurns(
    await tx.query(READ_ROUND_ROBIN_PAGE, [...pageParams(o, room, room.free, room.limit), pageSize]),
  );
  while (chosen.length < room.limit && room.free - costOf(chosen) > 0) {
    const page = await tx.query(READ_QUEUE_PAGE, [
      ...pageParams(o, room, room.free - costOf(chosen), pageSize),
      after?.priority ?? null,
      after?.seq ?? null,
    ]);
    const rows = turns.length > 0 ? mergeTurns(page, turns) : page;
    turns = [];
    const locked = await lockKeys(tx, o.workerId, rows, keys, o.now);
    keys = locked.keys;
    chosen = choose(rows, o, room, locked.keys, locked.refused, chosen);
    if (page.length < pageSize) break;
    const last = page[page.length - 1]!;
    after = { priority: last.priority as number, seq: Number(last.seq) };
  }
  return { chosen, keys };
}

/** $1 to $7 of both pages: the worker's tasks, now, its labels, rows per page (or per key), costs, room, id. */
function pageParams(o: ClaimOptions, room: Room, free: number, size: number): unknown[] {
  const costs = Object.fromEntries([...room.manifests].map(([name, m]) => [name, m.slotCost ?? 1]));
  return [[...room.manifests.keys()], o.now, room.labels, size, JSON.stringify(costs), free, o.workerId];
}

/**
 * The runs chosen so far, `before`, and those chosen from a page's rows in order, under the page's key locks:
 * none whose key another claim holds (`refused`), beyond the room left, bound elsewhere by a hard sticky key,
 * past its concurrency limit, past a rate limit's units left in the window, or refused by `o.accept`.
 */
function choose(
  rows: Row[],
  o: ClaimOptions,
  room: Room,
  keys: Keys,
  refused: ReadonlySet<string>,
  before: readonly Chosen[],
): Chosen[] {
  const chosen = [...before];
  let free = room.free - costOf(chosen);
  /** Whether this claim binds the sticky key to the worker. */
  const binds = (key: string) => chosen.some((c) => c.stickyKey === key);
  /** Assigned or running runs of the concurrency key, this claim's included. */
  const active = (key: string) =>
    (keys.active.get(key) ?? 0) + chosen.filter((c) => c.concurrencyKey === key).length;
  /** Whether the rate limit has no room for the units in its window, counting this claim's. */
  const limited = ({ key, units }: RateLimitUse) => {
    const rate = keys.rates.get(key);
    if (!rate) return false;
    const taken = chosen.reduce(
      (sum, c) => sum + c.rateLimits.reduce((n, u) => n + (u.key === key ? u.units : 0), 0),
      0,
    );
    return rate.used + taken + units > rate.limit;
  };

  for (const row of rows) {
    if (chosen.length >= room.limit) break;
    const stickyKey = row.sticky_key as string | null;
    const ck = row.concurrency_key as string | null;
    const rateLimits = (row.rate_limits as RateLimitUse[] | null) ?? [];
    if ((stickyKey && refused.has(`s:${stickyKey}`)) || (ck && refused.has(`c:${ck}`))) continue;
    if (rateLimits.some((u) => refused.has(`r:${u.key}`) || limited(u))) continue;
    const manifest = room.manifests.get(row.task as string);
    const cost = (row.slot_cost as number | null) ?? manifest?.slotCost ?? 1;
    if (cost > free) continue;
    const stickyWorkerId = stickyKey && !binds(stickyKey) ? (keys.bound.get(stickyKey) ?? null) : null;
    if (row.sticky_mode === 'hard' && stickyWorkerId) continue;
    if (ck && active(ck) >= (row.concurrency_limit as number)) continue;
    const candidate: Candidate = {
      id: row.id as string,
      task: row.task as string,
      cost,
      requiredLabels: row.required_labels as Labels | null,
      preferredLabels: row.preferred_labels as PreferredLabels[] | null,
      stickyKey,
      stickyMode: row.sticky_mode as StickyMode | null,
      stickyWorkerId,
    };
    if (o.accept && !o.accept(candidate)) continue;
    free -= cost;
    chosen.push({
      id: candidate.id,
      cost,
      timeout: manifest?.timeoutMs ?? null,
      retries: manifest?.retries ?? null,
      stickyKey,
      concurrencyKey: ck,
      rateLimits,
    });
  }
  return chosen;
}

/**
 * Assigns the chosen runs, binds their sticky keys to the worker and takes their units from their rate limits'
 * windows; the runs in the order chosen.
 */
async function assign(tx: SqlClient, o: ClaimOptions, chosen: Chosen[], keys: Keys): Promise<RunRecord[]> {
  const recordset = chosen.map(({ id, cost, timeout, retries }) => ({ id, cost, timeout, retries }));
  const claimed = await tx.query(ASSIGN_CHOSEN, [
    o.workerId,
    o.now,
    o.now + o.leaseMs,
    JSON.stringify(recordset),
    chosen.map((c) => c.id),
  ]);
  const stickyKeys = [...new Set(chosen.flatMap((c) => (c.stickyKey ? [c.stickyKey] : [])))];
  if (stickyKeys.length > 0) await tx.query(BIND_STICKY_KEYS, [stickyKeys, o.workerId, o.now]);
  await consumeRateUnits(tx, unitsTaken(chosen, keys));
  const order = new Map(chosen.map((c, i) => [c.id, i]));
  return claimed.map(toRun).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
}

/** The units the chosen runs take from each limited key's current window. */
function unitsTaken(chosen: readonly Chosen[], keys: Keys): Consumed[] {
  const byKey = new Map<string, Consumed>();
  for (const { key, units } of chosen.flatMap((c) => c.rateLimits)) {
    const rate = keys.rates.get(key);
    if (!rate) continue;
    const consumed = byKey.get(key) ?? { key, start: rate.windowStart, units: 0 };
    consumed.units += units;
    byKey.set(key, consumed);
  }
  return [...byKey.values()];
}

function costOf(chosen: readonly Chosen[]): number {
  return chosen.reduce((sum, c) => sum + c.cost, 0);
}
