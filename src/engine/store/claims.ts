// Claiming queued runs for one worker: row locks with SKIP LOCKED, so replicas never assign a run twice.
import type { Labels, TaskManifest } from '../../protocol/schemas.ts';
import { claimHead } from './claims/head.ts';
import { readWorker } from './claims/worker.ts';
import type { PreferredLabels, RunRecord } from './records.ts';
import { toRun } from './records.ts';
import type { Row, Sql, SqlClient } from './sql.ts';

export interface Candidate {
  id: string;
  task: string;
  cost: number;
  requiredLabels: Labels | null;
  preferredLabels: PreferredLabels[] | null;
  stickyKey: string | null;
  stickyMode: 'soft' | 'hard' | null;
  /** The worker this run's sticky key is bound to, when it is another live worker. */
  stickyWorkerId: string | null;
}

export interface ClaimOptions {
  workerId: string;
  /** Most runs to claim in this batch. */
  max: number;
  now: number;
  leaseMs: number;
  /** Queued rows read per page beyond `max`; further pages are read while room is left. */
  scan?: number;
  /** False leaves the run for a better-suited worker (soft stickiness, preferred labels). */
  accept?: (candidate: Candidate) => boolean;
}

export interface ClaimResult {
  runs: RunRecord[];
  /** Slot-units the worker holds after this claim (the store's count, for the dispatcher's snapshot). */
  used: number;
  slots: number;
  /** False when the worker is not ACTIVE or is paused: it should leave the dispatcher's snapshot. */
  dispatchable: boolean;
}

interface Chosen {
  id: string;
  cost: number;
  timeout: number | null;
  retries: number | null;
}

/**
 * What a claim sets on each run it takes: $1 the worker, $2 now, $3 the lease's end; `x` the chosen run. The
 * head claims (claims/head.ts) set the same.
 */
const ASSIGN = `state = 'ASSIGNED', attempt = attempt + 1, deliveries = deliveries + 1, worker_id = $1,
  slot_cost = x.cost, timeout_ms = coalesce(pw_runs.timeout_ms, x.timeout), retries = coalesce(pw_runs.retries, x.retries),
  assigned_at = $2, lease_expires_at = $3, slot_released = false, ended_by_worker = false, deadline_at = NULL`;

export async function claimRuns(sql: Sql, options: ClaimOptions): Promise<ClaimResult> {
  const head = await claimHead(sql, options);
  if (head?.complete) return head.result;
  const rest = await sql.transaction((tx) =>
    claimIn(tx, head ? { ...options, max: options.max - head.result.runs.length } : options, sql.serial),
  );
  return head ? { ...rest, runs: [...head.result.runs, ...rest.runs] } : rest;
}

async function claimIn(tx: SqlClient, o: ClaimOptions, serial: boolean): Promise<ClaimResult> {
  const worker = await readWorker(tx, serial, o.workerId);
  if (!worker) return { runs: [], used: 0, slots: 0, dispatchable: false };
  const none = { runs: [], used: worker.used, slots: worker.slots };
  if (worker.state !== 'ACTIVE' || worker.paused) return { ...none, dispatchable: false };
  const ctx: ScanContext = {
    tx,
    o,
    manifests: new Map(worker.tasks.map((t) => [t.name, t])),
    labels: JSON.stringify(worker.labels),
    free: worker.slots - worker.used,
    limit: 0,
    chosen: [],
    bound: new Map(),
    active: new Map(),
    locked: new Set(),
    newBindings: new Set(),
  };
  ctx.limit = Math.min(ctx.free, o.max);
  if (ctx.limit <= 0) return { ...none, dispatchable: true };

  // Page through the queue until the batch is full or no eligible row is left: rows skipped here (soft
  // preferences, keys another replica is deciding, room used up within the page) never hide rows behind them.
  const pageSize = ctx.limit + (o.scan ?? 32);
  let after: { priority: number; seq: number } | undefined;
  while (ctx.chosen.length < ctx.limit && ctx.free > 0) {
    const rows = await readPage(ctx, pageSize, after);
    await pickFrom(ctx, rows);
    if (rows.length < pageSize) break;
    const last = rows[rows.length - 1]!;
    after = { priority: last.priority as number, seq: Number(last.seq) };
  }
  if (ctx.chosen.length === 0) return { ...none, dispatchable: true };

  // `id = ANY` lets the primary key find the rows: the planner sizes a recordset at 100 rows, and joined to it
  // alone would scan the whole runs table.
  const claimed = await tx.query(
    `UPDATE pw_runs SET ${ASSIGN}
     FROM jsonb_to_recordset($4::jsonb) AS x(id text, cost int, timeout int, retries int)
     WHERE pw_runs.id = x.id AND pw_runs.id = ANY($5::text[])
     RETURNING pw_runs.*`,
    [o.workerId, o.now, o.now + o.leaseMs, JSON.stringify(ctx.chosen), ctx.chosen.map((c) => c.id)],
  );
  if (ctx.newBindings.size > 0) {
    await tx.query(
      `INSERT INTO pw_sticky (sticky_key, worker_id, updated_at) SELECT k, $2, $3 FROM unnest($1::text[]) AS k
       ON CONFLICT (sticky_key) DO UPDATE SET worker_id = excluded.worker_id, updated_at = excluded.updated_at`,
      [[...ctx.newBindings], o.workerId, o.now],
    );
  }
  const order = new Map(ctx.chosen.map((c, i) => [c.id, i]));
  const runs = claimed.map(toRun).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  const used = worker.used + ctx.chosen.reduce((sum, c) => sum + c.cost, 0);
  return { runs, used, slots: worker.slots, dispatchable: true };
}

interface ScanContext {
  tx: SqlClient;
  o: ClaimOptions;
  manifests: Map<string, TaskManifest>;
  labels: string;
  free: number;
  limit: number;
  chosen: Chosen[];
  /** Sticky keys bound to another live worker. */
  bound: Map<string, string>;
  /** Assigned or running runs per concurrency key, counted under the key's lock. */
  active: Map<string, number>;
  /** Keys whose advisory lock this transaction holds. */
  locked: Set<string>;
  newBindings: Set<string>;
}

/**
 * Queued rows this worker could take, in priority order after `after`. Hard constraints are filtered in SQL
 * (task, labels, availability, slot cost, concurrency limits reached, hard keys bound elsewhere) so that a
 * long run of rows nobody here may take cannot fill the page; they are re-checked under the key locks below.
 */
function readPage(ctx: ScanContext, size: number, after?: { priority: number; seq: number }) {
  const costs = Object.fromEntries([...ctx.manifests].map(([name, m]) => [name, m.slotCost ?? 1]));
  return ctx.tx.query(
    `SELECT q.* FROM unnest($1::text[]) AS t(task) CROSS JOIN LATERAL (
     SELECT r.id, r.seq, r.priority, r.task, r.slot_cost, r.required_labels, r.preferred_labels, r.sticky_key,
       r.sticky_mode, r.concurrency_key, r.concurrency_limit
     FROM pw_runs r
     WHERE r.state = 'QUEUED' AND r.task = t.task AND r.available_at <= $2
       AND (r.required_labels IS NULL OR r.required_labels <@ $3::jsonb)
       AND coalesce(r.slot_cost, ($5::jsonb ->> r.task)::int, 1) <= $6
       AND (r.concurrency_key IS NULL OR r.concurrency_limit > (
         SELECT count(*) FROM pw_runs a
         WHERE a.concurrency_key = r.concurrency_key AND a.state IN ('ASSIGNED', 'RUNNING')))
       AND (r.sticky_mode IS DISTINCT FROM 'hard' OR NOT EXISTS (
         SELECT 1 FROM pw_sticky s JOIN pw_workers w ON w.id = s.worker_id
         WHERE s.sticky_key = r.sticky_key AND s.worker_id <> $7 AND w.state <> 'INACTIVE'))
       AND ($8::int IS NULL OR r.priority < $8 OR (r.priority = $8 AND r.seq > $9::bigint))
     ORDER BY r.priority DESC, r.seq
     LIMIT $4
     FOR UPDATE OF r SKIP LOCKED
     ) AS q
     ORDER BY q.priority DESC, q.seq
     LIMIT $4`,
    [
      [...ctx.manifests.keys()],
      ctx.o.now,
      ctx.labels,
      size,
      JSON.stringify(costs),
      ctx.free,
      ctx.o.workerId,
      after?.priority ?? null,
      after?.seq ?? null,
    ],
  );
}

/**
 * Locks the page's sticky and concurrency keys, then chooses rows. Keys are try-locked all at once: a key another
 * replica's claim holds is left to that claim (its rows wait for the next round), and nobody ever waits on a key.
 */
async function pickFrom(ctx: ScanContext, rows: Row[]): Promise<void> {
  const wanted = new Set<string>();
  for (const row of rows) {
    if (row.sticky_key) wanted.add(`s:${row.sticky_key}`);
    if (row.concurrency_key) wanted.add(`c:${row.concurrency_key}`);
  }
  const fresh = [...wanted].filter((k) => !ctx.locked.has(k));
  const refused = new Set<string>();
  if (fresh.length > 0) {
    const got = await ctx.tx.query<{ k: string; ok: boolean }>(
      `SELECT k, pg_try_advisory_xact_lock(hashtext('pushworker:' || k)) AS ok FROM unnest($1::text[]) AS k`,
      [fresh],
    );
    for (const g of got) (g.ok ? ctx.locked : refused).add(g.k);
    await readKeyState(
      ctx,
      fresh.filter((k) => !refused.has(k)),
    );
  }

  for (const row of rows) {
    if (ctx.chosen.length >= ctx.limit) break;
    const stickyKey = row.sticky_key as string | null;
    const ck = row.concurrency_key as string | null;
    if ((stickyKey && refused.has(`s:${stickyKey}`)) || (ck && refused.has(`c:${ck}`))) continue;
    const manifest = ctx.manifests.get(row.task as string);
    const cost = (row.slot_cost as number | null) ?? manifest?.slotCost ?? 1;
    if (cost > ctx.free) continue;
    const stickyWorkerId =
      stickyKey && !ctx.newBindings.has(stickyKey) ? (ctx.bound.get(stickyKey) ?? null) : null;
    if (row.sticky_mode === 'hard' && stickyWorkerId) continue;
    if (ck && (ctx.active.get(ck) ?? 0) >= (row.concurrency_limit as number)) continue;
    const candidate: Candidate = {
      id: row.id as string,
      task: row.task as string,
      cost,
      requiredLabels: row.required_labels as Labels | null,
      preferredLabels: row.preferred_labels as PreferredLabels[] | null,
      stickyKey,
      stickyMode: row.sticky_mode as 'soft' | 'hard' | null,
      stickyWorkerId,
    };
    if (ctx.o.accept && !ctx.o.accept(candidate)) continue;
    ctx.free -= cost;
    if (ck) ctx.active.set(ck, (ctx.active.get(ck) ?? 0) + 1);
    if (stickyKey) ctx.newBindings.add(stickyKey);
    ctx.chosen.push({
      id: candidate.id,
      cost,
      timeout: manifest?.timeoutMs ?? null,
      retries: manifest?.retries ?? null,
    });
  }
}

/** Reads, under their locks, the bindings of sticky keys and the running counts of concurrency keys. */
async function readKeyState(ctx: ScanContext, keys: string[]): Promise<void> {
  const stickyKeys = keys.filter((k) => k.startsWith('s:')).map((k) => k.slice(2));
  const concurrencyKeys = keys.filter((k) => k.startsWith('c:')).map((k) => k.slice(2));
  if (stickyKeys.length > 0) {
    const found = await ctx.tx.query<{ sticky_key: string; worker_id: string }>(
      `SELECT s.sticky_key, s.worker_id FROM pw_sticky s JOIN pw_workers w ON w.id = s.worker_id
       WHERE s.sticky_key = ANY($1::text[]) AND s.worker_id <> $2 AND w.state <> 'INACTIVE'`,
      [stickyKeys, ctx.o.workerId],
    );
    for (const f of found) ctx.bound.set(f.sticky_key, f.worker_id);
  }
  if (concurrencyKeys.length > 0) {
    const counts = await ctx.tx.query<{ concurrency_key: string; n: number }>(
      `SELECT concurrency_key, count(*)::int AS n FROM pw_runs
       WHERE state IN ('ASSIGNED', 'RUNNING') AND concurrency_key = ANY($1::text[]) GROUP BY concurrency_key`,
      [concurrencyKeys],
    );
    for (const c of counts) ctx.active.set(c.concurrency_key, c.n);
  }
}
