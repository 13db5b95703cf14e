// Rate limit rows: the limits tasks declare and operators override, and the units each window has started.
import { RunState, TERMINAL_RUN_STATES } from '../../protocol/schemas.ts';
import type { RunRecord } from './records.ts';
import type { SqlClient } from './sql.ts';

/** A key's limit as the claims apply it, and its window now. */
export interface RateLimitRecord {
  key: string;
  limit: number;
  perMs: number;
  declaredLimit: number | null;
  declaredPerMs: number | null;
  overrideLimit: number | null;
  overridePerMs: number | null;
  windowStart: number;
  /** Units started in the window that holds `now`. */
  used: number;
}

export interface DeclaredLimit {
  key: string;
  limit: number;
  perMs: number;
}

/**
 * The limits of the keys $1 (all when null) that have one, with the units started in the window that holds $2
 * (windows are aligned on multiples of their length since the epoch).
 */
export const READ_RATE_LIMITS = `SELECT a.key, a.lim, a.per_ms, d.declared_limit, d.declared_per_ms, d.override_limit,
    d.override_per_ms, floor($2 / a.per_ms) * a.per_ms AS window_start, coalesce(w.used, 0)::int AS used
  FROM pw_rate_limits_applied a JOIN pw_rate_limits d ON d.key = a.key
  LEFT JOIN pw_rate_limit_windows w ON w.key = a.key AND w.window_start = floor($2 / a.per_ms) * a.per_ms
  WHERE $1::text[] IS NULL OR a.key = ANY($1::text[])
  ORDER BY a.key`;

/**
 * A declared key's `updated_at` is moved to the declaration's time when it is older than this, so that a key in
 * use never looks idle to the pruning of idle keys, without a write for every enqueue.
 */
export const DECLARATION_REFRESH_MS = 3_600_000;
/** Declared keys idle for less than this are never pruned, whatever the retention: twice the refresh period. */
export const MIN_IDLE_BEFORE_PRUNE_MS = 2 * DECLARATION_REFRESH_MS;

/**
 * Records the limits $1 (key, limit, perMs) as declared by a task, at $2; an override stays as it is. The row is
 * written when the declaration changed or was last written before $3.
 */
export const DECLARE_RATE_LIMITS = `INSERT INTO pw_rate_limits (key, declared_limit, declared_per_ms, updated_at)
  SELECT x.key, x.limit, x."perMs", $2 FROM jsonb_to_recordset($1::jsonb) AS x(key text, "limit" int, "perMs" double precision)
  ON CONFLICT (key) DO UPDATE SET declared_limit = excluded.declared_limit, declared_per_ms = excluded.declared_per_ms,
    updated_at = excluded.updated_at
  WHERE pw_rate_limits.declared_limit IS DISTINCT FROM excluded.declared_limit
    OR pw_rate_limits.declared_per_ms IS DISTINCT FROM excluded.declared_per_ms
    OR pw_rate_limits.updated_at < $3`;

const LIVE_STATES = RunState.options
  .filter((s) => !TERMINAL_RUN_STATES.has(s))
  .map((s) => `'${s}'`)
  .join(', ');

/**
 * Deletes up to $2 declared keys (no override) last declared before $1 that no live run uses, with their windows:
 * keys templated on the input (one per tenant, say) would otherwise pile up for ever. The live runs' keys are
 * read only when there is a candidate. A key declared again later is simply recorded again. SKIP LOCKED: an
 * enqueue declaring the key holds its row, and replicas pruning at once take disjoint keys.
 */
export const PRUNE_IDLE_RATE_LIMITS = `WITH idle AS (
    SELECT key FROM pw_rate_limits
    WHERE override_limit IS NULL AND updated_at < $1
    ORDER BY updated_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ),
  live AS MATERIALIZED (
    SELECT DISTINCT u.key FROM pw_runs r CROSS JOIN LATERAL jsonb_to_recordset(r.rate_limits) AS u(key text)
    WHERE r.state IN (${LIVE_STATES}) AND r.rate_limits IS NOT NULL AND EXISTS (SELECT 1 FROM idle)
  ),
  gone AS (
    DELETE FROM pw_rate_limits d USING idle
    WHERE d.key = idle.key AND NOT EXISTS (SELECT 1 FROM live WHERE live.key = idle.key)
    RETURNING d.key
  ),
  windows AS (
    DELETE FROM pw_rate_limit_windows w USING gone WHERE w.key = gone.key
  )
  SELECT count(*)::int AS n FROM gone`;

/** Sets the limit $2 per $3 ms on the key $1 at $4, over the declared one. */
export const OVERRIDE_RATE_LIMIT = `INSERT INTO pw_rate_limits (key, override_limit, override_per_ms, updated_at)
  VALUES ($1, $2, $3, $4)
  ON CONFLICT (key) DO UPDATE SET override_limit = excluded.override_limit, override_per_ms = excluded.override_per_ms,
    updated_at = excluded.updated_at`;

/**
 * Adds the units $1 (key, start, units) to their windows, and forgets the key's windows before them: in the
 * claim's own transaction, under the keys' locks, so that the check and the count are one step.
 */
export const CONSUME_RATE_UNITS = `INSERT INTO pw_rate_limit_windows (key, window_start, used)
  SELECT x.key, x.start, x.units FROM jsonb_to_recordset($1::jsonb) AS x(key text, start double precision, units int)
  ON CONFLICT (key, window_start) DO UPDATE SET used = pw_rate_limit_windows.used + excluded.used`;
export const FORGET_PAST_WINDOWS = `DELETE FROM pw_rate_limit_windows w
  USING jsonb_to_recordset($1::jsonb) AS x(key text, start double precision)
  WHERE w.key = x.key AND w.window_start < x.start`;

/** The keys $1 that have a limit, set or declared. */
export const KNOWN_RATE_LIMIT_KEYS = `SELECT key FROM pw_rate_limits_applied WHERE key = ANY($1::text[])`;

export async function readRateLimits(
  sql: SqlClient,
  keys: readonly string[] | null,
  now: number,
): Promise<RateLimitRecord[]> {
  const rows = await sql.query(READ_RATE_LIMITS, [keys, now]);
  return rows.map((r) => ({
    key: r.key as string,
    limit: r.lim as number,
    perMs: r.per_ms as number,
    declaredLimit: r.declared_limit as number | null,
    declaredPerMs: r.declared_per_ms as number | null,
    overrideLimit: r.override_limit as number | null,
    overridePerMs: r.override_per_ms as number | null,
    windowStart: r.window_start as number,
    used: r.used as number,
  }));
}

export async function declareRateLimits(sql: SqlClient, limits: DeclaredLimit[], now: number): Promise<void> {
  if (limits.length === 0) return;
  // One row per key: the last declaration of a key in the batch wins, as a later enqueue's would.
  const byKey = new Map(limits.map((l) => [l.key, l]));
  await sql.query(DECLARE_RATE_LIMITS, [
    JSON.stringify([...byKey.values()]),
    now,
    now - DECLARATION_REFRESH_MS,
  ]);
}

/**
 * Prunes declared keys idle since `before` (and at least `MIN_IDLE_BEFORE_PRUNE_MS` before `now`) that no live run
 * uses, up to `batchSize` of them. Returns how many it deleted.
 */
export async function pruneIdleRateLimits(
  sql: SqlClient,
  before: number,
  now: number,
  batchSize: number,
): Promise<number> {
  const cutoff = Math.min(before, now - MIN_IDLE_BEFORE_PRUNE_MS);
  const [row] = await sql.query<{ n: number }>(PRUNE_IDLE_RATE_LIMITS, [cutoff, batchSize]);
  return row?.n ?? 0;
}

export async function overrideRateLimit(
  sql: SqlClient,
  key: string,
  limit: number,
  perMs: number,
  now: number,
): Promise<void> {
  await sql.query(OVERRIDE_RATE_LIMIT, [key, limit, perMs, now]);
}

export async function knownRateLimitKeys(sql: SqlClient, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await sql.query<{ key: string }>(KNOWN_RATE_LIMIT_KEYS, [keys]);
  return new Set(rows.map((r) => r.key));
}

/**
 * The rate limit uses a queued row `r` has still to take: none once it took them in its try. A try is what a
 * failure ends: a run takes its units on its first push and on each retry after a failure, not on a push that
 * resumes it after a suspension (`rate_units_try` is its `failures` when claimed; a re-queue after a lost lease
 * or a refused push clears it, since the run starts afresh in that later push's window).
 */
export const UNITS_DUE = `CASE WHEN r.rate_units_try = r.failures THEN NULL ELSE r.rate_limits END`;

/**
 * Whether a queued row `r` is held back by a rate limit at the time `at` (an SQL expression). Most runs have no
 * rate limits; the CASE spares them the function call, which otherwise dominates a count over every queued run.
 */
export function heldByRateLimit(at: string): string {
  return `CASE WHEN r.rate_limits IS NULL THEN false ELSE pw_rate_limited(${UNITS_DUE}, ${at}) END`;
}

/** `UNITS_DUE` of a run read. */
export function unitsDue(run: RunRecord): RunRecord['rateLimits'] {
  return run.rateUnitsTry === run.failures ? null : run.rateLimits;
}

/** The units a claim takes from each key's window. */
export interface Consumed {
  key: string;
  start: number;
  units: number;
}

export async function consumeRateUnits(tx: SqlClient, consumed: Consumed[]): Promise<void> {
  if (consumed.length === 0) return;
  await tx.query(CONSUME_RATE_UNITS, [JSON.stringify(consumed)]);
  await tx.query(FORGET_PAST_WINDOWS, [JSON.stringify(consumed.map(({ key, start }) => ({ key, start })))]);
}

/**
 * For each queued run among `runs` with rate limits, the first of them that has no room for it in the window now,
 * and when that window ends; the limits of all the runs are read at once.
 */
export async function rateLimitHoldings(
  sql: SqlClient,
  runs: RunRecord[],
  now: number,
): Promise<Map<string, { key: string; until: number }>> {
  const limited = runs.flatMap((r) => {
    const uses = r.state === 'QUEUED' ? unitsDue(r) : null;
    return uses?.length ? [{ id: r.id, uses }] : [];
  });
  const holdings = new Map<string, { key: string; until: number }>();
  if (limited.length === 0) return holdings;
  const keys = [...new Set(limited.flatMap((r) => r.uses.map((u) => u.key)))];
  const limits = new Map((await readRateLimits(sql, keys, now)).map((l) => [l.key, l]));
  for (const run of limited) {
    for (const use of run.uses) {
      const limit = limits.get(use.key);
      if (limit && limit.used + use.units > limit.limit) {
        holdings.set(run.id, { key: use.key, until: limit.windowStart + limit.perMs });
        break;
      }
    }
  }
  return holdings;
}
