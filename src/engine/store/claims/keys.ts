// The sticky, concurrency and rate limit keys of the rows a scan claim reads: try-locked, then read under their locks.
import { type RateLimitRecord, readRateLimits } from '../rate-limits.ts';
import type { RateLimitUse } from '../records.ts';
import type { Row, SqlClient } from '../sql.ts';

/**
 * What the claim's transaction knows of the keys whose locks it holds. Keys are `s:` sticky, `c:` concurrency,
 * `r:` rate limit.
 */
export interface Keys {
  /** Keys whose advisory lock the transaction holds. */
  held: ReadonlySet<string>;
  /** Sticky keys bound to another live worker, read under their locks. */
  bound: ReadonlyMap<string, string>;
  /** Assigned or running runs per concurrency key, counted under the key's lock (the claim's own not included). */
  active: ReadonlyMap<string, number>;
  /** Rate limits with their current window, read under the key's lock; a key with no limit is absent. */
  rates: ReadonlyMap<string, RateLimitRecord>;
}

export const NO_KEYS: Keys = { held: new Set(), bound: new Map(), active: new Map(), rates: new Map() };

/** Try-locks each of the keys $1 for the rest of the transaction; `ok` is false where another holds it. */
export const TRY_LOCK_KEYS = `SELECT k, pg_try_advisory_xact_lock(hashtext('pushworker:' || k)) AS ok
  FROM unnest($1::text[]) AS k`;

/** The sticky keys among $1 that are bound to a live worker other than $2, and the worker. */
export const READ_STICKY_BINDINGS = `SELECT s.sticky_key, s.worker_id FROM pw_sticky s JOIN pw_workers w ON w.id = s.worker_id
  WHERE s.sticky_key = ANY($1::text[]) AND s.worker_id <> $2 AND w.state <> 'INACTIVE'`;

/** Assigned or running runs of each of the concurrency keys $1 that has any. */
export const COUNT_ACTIVE_BY_KEY = `SELECT concurrency_key, count(*)::int AS n FROM pw_runs
  WHERE state IN ('ASSIGNED', 'RUNNING') AND concurrency_key = ANY($1::text[]) GROUP BY concurrency_key`;

/**
 * Locks the sticky, concurrency and rate limit keys of a page's rows that `keys` does not hold yet, and reads their state.
 * They are try-locked all at once: a key another replica's claim holds is left to that claim (`refused`; its
 * rows wait for the next round), and nobody ever waits on a key. Returns what is known of the keys now held.
 */
export async function lockKeys(
  tx: SqlClient,
  workerId: string,
  rows: Row[],
  keys: Keys,
  now: number,
): Promise<{ keys: Keys; refused: ReadonlySet<string> }> {
  const wanted = new Set<string>();
  for (const row of rows) {
    if (row.sticky_key) wanted.add(`s:${row.sticky_key}`);
    if (row.concurrency_key) wanted.add(`c:${row.concurrency_key}`);
    for (const use of (row.rate_limits as RateLimitUse[] | null) ?? []) wanted.add(`r:${use.key}`);
  }
  const fresh = [...wanted].filter((k) => !keys.held.has(k));
  const refused = new Set<string>();
  if (fresh.length === 0) return { keys, refused };

  const got = await tx.query<{ k: string; ok: boolean }>(TRY_LOCK_KEYS, [fresh]);
  for (const g of got) if (!g.ok) refused.add(g.k);
  const taken = fresh.filter((k) => !refused.has(k));
  const stickyKeys = taken.filter((k) => k.startsWith('s:')).map((k) => k.slice(2));
  const concurrencyKeys = taken.filter((k) => k.startsWith('c:')).map((k) => k.slice(2));
  const rateKeys = taken.filter((k) => k.startsWith('r:')).map((k) => k.slice(2));
  const bound =
    stickyKeys.length === 0
      ? []
      : await tx.query<{ sticky_key: string; worker_id: string }>(READ_STICKY_BINDINGS, [
          stickyKeys,
          workerId,
        ]);
  const counts =
    concurrencyKeys.length === 0
      ? []
      : await tx.query<{ concurrency_key: string; n: number }>(COUNT_ACTIVE_BY_KEY, [concurrencyKeys]);
  const rates = rateKeys.length === 0 ? [] : await readRateLimits(tx, rateKeys, now);
  return {
    keys: {
      held: new Set([...keys.held, ...got.filter((g) => g.ok).map((g) => g.k)]),
      bound: new Map([...keys.bound, ...bound.map((b) => [b.sticky_key, b.worker_id] as const)]),
      active: new Map([...keys.active, ...counts.map((c) => [c.concurrency_key, c.n] as const)]),
      rates: new Map([...keys.rates, ...rates.map((r) => [r.key, r] as const)]),
    },
    refused,
  };
}
