// Claiming queued runs for one worker: row locks with SKIP LOCKED, so replicas never assign a run twice.
import type { Labels, TaskManifest } from '../../protocol/schemas.ts';
import type { PreferredLabels, RunRecord } from './records.ts';
import { toRun } from './records.ts';
import type { Sql, SqlClient } from './sql.ts';

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
  /** How many queued rows to look at beyond `max` (runs skipped for affinity, stickiness or limits). */
  scan?: number;
  /** False leaves the run for a better-suited worker (soft stickiness, preferred labels). */
  accept?: (candidate: Candidate) => boolean;
}

export interface ClaimedRun extends RunRecord {}

interface LockedWorker {
  state: string;
  paused: boolean;
  slots: number;
  labels: unknown;
  tasks: TaskManifest[];
}

export async function claimRuns(sql: Sql, options: ClaimOptions): Promise<ClaimedRun[]> {
  return sql.transaction((tx) => claimIn(tx, options));
}

async function claimIn(tx: SqlClient, o: ClaimOptions): Promise<ClaimedRun[]> {
  // The worker row lock serialises claims for one worker across replicas, so its slots are never overcommitted.
  const [worker] = await tx.query<LockedWorker & Record<string, unknown>>(
    'SELECT state, paused, slots, labels, tasks FROM pw_workers WHERE id = $1 FOR UPDATE',
    [o.workerId],
  );
  if (worker?.state !== 'ACTIVE' || worker.paused) return [];
  const [usage] = await tx.query<{ used: number }>(
    `SELECT coalesce(sum(slot_cost), 0)::int AS used FROM pw_runs
     WHERE worker_id = $1 AND state IN ('ASSIGNED', 'RUNNING') AND NOT slot_released`,
    [o.workerId],
  );
  let free = worker.slots - (usage?.used ?? 0);
  if (free <= 0) return [];
  const manifests = new Map(worker.tasks.map((t) => [t.name, t]));
  const limit = Math.min(free, o.max);

  const rows = await tx.query(
    `SELECT r.id, r.task, r.slot_cost, r.required_labels, r.preferred_labels, r.sticky_key, r.sticky_mode, r.concurrency_key,
       r.concurrency_limit
     FROM pw_runs r
     WHERE r.state = 'QUEUED' AND r.task = ANY($1::text[]) AND r.available_at <= $2
       AND (r.required_labels IS NULL OR r.required_labels <@ $3::jsonb)
     ORDER BY r.priority DESC, r.seq
     LIMIT $4
     FOR UPDATE OF r SKIP LOCKED`,
    [[...manifests.keys()], o.now, JSON.stringify(worker.labels), limit + (o.scan ?? 32)],
  );
  if (rows.length === 0) return [];

  // Stickiness and concurrency keys are checked under advisory locks, taken in a fixed order.
  const keys = new Set<string>();
  for (const row of rows) {
    if (row.sticky_key) keys.add(`s:${row.sticky_key}`);
    if (row.concurrency_key) keys.add(`c:${row.concurrency_key}`);
  }
  for (const key of [...keys].sort()) {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pushworker:${key}`]);
  }
  const stickyKeys = [...keys].filter((k) => k.startsWith('s:')).map((k) => k.slice(2));
  const concurrencyKeys = [...keys].filter((k) => k.startsWith('c:')).map((k) => k.slice(2));
  const bound = new Map<string, string>();
  if (stickyKeys.length > 0) {
    const found = await tx.query<{ sticky_key: string; worker_id: string }>(
      `SELECT s.sticky_key, s.worker_id FROM pw_sticky s JOIN pw_workers w ON w.id = s.worker_id
       WHERE s.sticky_key = ANY($1::text[]) AND s.worker_id <> $2 AND w.state <> 'INACTIVE'`,
      [stickyKeys, o.workerId],
    );
    for (const f of found) bound.set(f.sticky_key, f.worker_id);
  }
  const active = new Map<string, number>();
  if (concurrencyKeys.length > 0) {
    const counts = await tx.query<{ concurrency_key: string; n: number }>(
      `SELECT concurrency_key, count(*)::int AS n FROM pw_runs
       WHERE state IN ('ASSIGNED', 'RUNNING') AND concurrency_key = ANY($1::text[]) GROUP BY concurrency_key`,
      [concurrencyKeys],
    );
    for (const c of counts) active.set(c.concurrency_key, c.n);
  }

  const chosen: { id: string; cost: number; timeout: number | null; retries: number | null }[] = [];
  const newBindings = new Set<string>();
  for (const row of rows) {
    if (chosen.length >= limit) break;
    const manifest = manifests.get(row.task as string);
    const cost = (row.slot_cost as number | null) ?? manifest?.slotCost ?? 1;
    if (cost > free) continue;
    const stickyKey = row.sticky_key as string | null;
    const stickyWorkerId = stickyKey && !newBindings.has(stickyKey) ? (bound.get(stickyKey) ?? null) : null;
    if (row.sticky_mode === 'hard' && stickyWorkerId) continue;
    const ck = row.concurrency_key as string | null;
    if (ck && (active.get(ck) ?? 0) >= (row.concurrency_limit as number)) continue;
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
    if (o.accept && !o.accept(candidate)) continue;
    free -= cost;
    if (ck) active.set(ck, (active.get(ck) ?? 0) + 1);
    if (stickyKey) newBindings.add(stickyKey);
    chosen.push({
      id: candidate.id,
      cost,
      timeout: manifest?.timeoutMs ?? null,
      retries: manifest?.retries ?? null,
    });
  }
  if (chosen.length === 0) return [];

  const claimed = await tx.query(
    `UPDATE pw_runs SET state = 'ASSIGNED', attempt = attempt + 1, deliveries = deliveries + 1, worker_id = $1,
       slot_cost = x.cost, timeout_ms = coalesce(pw_runs.timeout_ms, x.timeout),
       retries = coalesce(pw_runs.retries, x.retries), assigned_at = $2, lease_expires_at = $3,
       slot_released = false, ended_by_worker = false, deadline_at = NULL
     FROM jsonb_to_recordset($4::jsonb) AS x(id text, cost int, timeout int, retries int)
     WHERE pw_runs.id = x.id
     RETURNING pw_runs.*`,
    [o.workerId, o.now, o.now + o.leaseMs, JSON.stringify(chosen)],
  );
  if (newBindings.size > 0) {
    await tx.query(
      `INSERT INTO pw_sticky (sticky_key, worker_id, updated_at) SELECT k, $2, $3 FROM unnest($1::text[]) AS k
       ON CONFLICT (sticky_key) DO UPDATE SET worker_id = excluded.worker_id, updated_at = excluded.updated_at`,
      [[...newBindings], o.workerId, o.now],
    );
  }
  const order = new Map(chosen.map((c, i) => [c.id, i]));
  return claimed.map(toRun).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
}
