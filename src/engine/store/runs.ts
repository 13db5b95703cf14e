// Run queries outside dispatch: enqueue (with idempotency keys), read, cancel, stats.
import type { Labels, StickyMode } from '../../protocol/schemas.ts';
import { json, type PreferredLabels, type RunRecord, toRun } from './records.ts';
import type { Sql, SqlClient } from './sql.ts';

export interface NewRun {
  id: string;
  task: string;
  input: unknown;
  metadata?: Record<string, unknown> | undefined;
  priority?: number | undefined;
  idempotencyKey?: string | undefined;
  requiredLabels?: Labels | undefined;
  preferredLabels?: PreferredLabels[] | undefined;
  stickyKey?: string | undefined;
  stickyMode?: StickyMode | undefined;
  concurrencyKey?: string | undefined;
  concurrencyLimit?: number | undefined;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
  slotCost?: number | undefined;
  /** The id of the minted API token that enqueues the run. */
  createdBy?: string | null | undefined;
}

export interface Inserted {
  run: RunRecord;
  /** False when an earlier run with the same idempotency key was returned instead. */
  created: boolean;
}

/** Inserts runs in one statement; runs whose idempotency key exists resolve to the existing run. */
export async function insertRuns(sql: SqlClient, runs: NewRun[], now: number): Promise<Inserted[]> {
  const records = runs.map((r) => ({
    id: r.id,
    task: r.task,
    input: r.input ?? null,
    metadata: r.metadata ?? null,
    priority: r.priority ?? 0,
    idempotency_key: r.idempotencyKey ?? null,
    required_labels: r.requiredLabels ?? null,
    preferred_labels: r.preferredLabels ?? null,
    sticky_key: r.stickyKey ?? null,
    sticky_mode: r.stickyKey ? (r.stickyMode ?? 'soft') : null,
    concurrency_key: r.concurrencyKey ?? null,
    concurrency_limit: r.concurrencyKey ? (r.concurrencyLimit ?? 1) : null,
    timeout_ms: r.timeoutMs ?? null,
    retries: r.retries ?? null,
    slot_cost: r.slotCost ?? null,
    created_by: r.createdBy ?? null,
  }));
  const inserted = await sql.query(
    `INSERT INTO pw_runs (id, task, input, metadata, priority, idempotency_key, required_labels, preferred_labels,
       sticky_key, sticky_mode, concurrency_key, concurrency_limit, timeout_ms, retries, slot_cost, created_by,
       state, available_at, created_at)
     SELECT x.id, x.task, x.input, x.metadata, x.priority, x.idempotency_key, x.required_labels, x.preferred_labels,
       x.sticky_key, x.sticky_mode, x.concurrency_key, x.concurrency_limit, x.timeout_ms, x.retries, x.slot_cost,
       x.created_by, 'QUEUED', $2, $2
     FROM json_to_recordset($1::json) AS x(id text, task text, input json, metadata jsonb, priority int,
       idempotency_key text, required_labels jsonb, preferred_labels jsonb, sticky_key text, sticky_mode text,
       concurrency_key text, concurrency_limit int, timeout_ms int, retries int, slot_cost int,
       created_by text)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING *`,
    [JSON.stringify(records), now],
  );
  const byId = new Map(inserted.map((row) => [row.id as string, toRun(row)]));
  const missingKeys = runs.filter((r) => !byId.has(r.id) && r.idempotencyKey).map((r) => r.idempotencyKey!);
  const existing = new Map<string, RunRecord>();
  if (missingKeys.length > 0) {
    const rows = await sql.query('SELECT * FROM pw_runs WHERE idempotency_key = ANY($1::text[])', [
      missingKeys,
    ]);
    for (const row of rows) existing.set(row.idempotency_key as string, toRun(row));
  }
  return runs.map((r) => {
    const run = byId.get(r.id);
    if (run) return { run, created: true };
    const prior = r.idempotencyKey ? existing.get(r.idempotencyKey) : undefined;
    if (!prior) throw new Error(`run ${r.id} was neither inserted nor found by its idempotency key`);
    return { run: prior, created: false };
  });
}

export async function getRun(sql: SqlClient, id: string): Promise<RunRecord | undefined> {
  const rows = await sql.query('SELECT * FROM pw_runs WHERE id = $1', [id]);
  return rows[0] ? toRun(rows[0]) : undefined;
}

export interface RunFilter {
  states?: string[] | undefined;
  task?: string | undefined;
  workerId?: string | undefined;
  limit: number;
  /** Only runs enqueued before the run with this sequence number (the previous page's last). */
  beforeSeq?: number | undefined;
}

/** Runs newest first, with their sequence numbers for paging. */
export async function listRuns(sql: SqlClient, f: RunFilter): Promise<(RunRecord & { seq: number })[]> {
  const rows = await sql.query(
    `SELECT * FROM pw_runs
     WHERE ($1::text[] IS NULL OR state = ANY($1::text[])) AND ($2::text IS NULL OR task = $2)
       AND ($3::bigint IS NULL OR seq < $3) AND ($5::text IS NULL OR worker_id = $5)
     ORDER BY seq DESC LIMIT $4`,
    [f.states?.length ? f.states : null, f.task ?? null, f.beforeSeq ?? null, f.limit, f.workerId ?? null],
  );
  return rows.map((row) => ({ ...toRun(row), seq: Number(row.seq) }));
}

export interface CancelOutcome {
  run: RunRecord;
  /** Set when the run was on a worker, which must be told to stop it. */
  notify?: { workerId: string; attempt: number };
}

/** Cancels a queued or running run; a terminal run is returned unchanged. */
export async function cancelRun(sql: Sql, id: string, now: number): Promise<CancelOutcome | undefined> {
  return sql.transaction(async (tx) => {
    const rows = await tx.query('SELECT * FROM pw_runs WHERE id = $1 FOR UPDATE', [id]);
    if (!rows[0]) return undefined;
    const before = toRun(rows[0]);
    if (!['QUEUED', 'ASSIGNED', 'RUNNING'].includes(before.state)) return { run: before };
    const updated = await tx.query(
      `UPDATE pw_runs SET state = 'CANCELLED', ended_by_worker = false, finished_at = $2, lease_expires_at = NULL,
         deadline_at = NULL, error = $3::jsonb
       WHERE id = $1 RETURNING *`,
      [id, now, json({ message: 'the run was cancelled', name: 'Cancelled', retryable: false })],
    );
    const run = toRun(updated[0]!);
    const onWorker = before.state !== 'QUEUED' && before.workerId;
    return onWorker ? { run, notify: { workerId: before.workerId!, attempt: before.attempt } } : { run };
  });
}

export interface TaskStats {
  task: string;
  queued: number;
  /** Queued and available now (not waiting for a retry backoff). */
  ready: number;
  assigned: number;
  running: number;
}

export async function taskStats(sql: SqlClient, now: number): Promise<TaskStats[]> {
  const rows = await sql.query<{ task: string; state: string; ready: number; n: number }>(
    `SELECT task, state, count(*)::int AS n, count(*) FILTER (WHERE available_at <= $1)::int AS ready
     FROM pw_runs WHERE state IN ('QUEUED', 'ASSIGNED', 'RUNNING') GROUP BY task, state`,
    [now],
  );
  const byTask = new Map<string, TaskStats>();
  for (const row of rows) {
    let stats = byTask.get(row.task);
    if (!stats) {
      stats = { task: row.task, queued: 0, ready: 0, assigned: 0, running: 0 };
      byTask.set(row.task, stats);
    }
    if (row.state === 'QUEUED') {
      stats.queued = row.n;
      stats.ready = row.ready;
    } else if (row.state === 'ASSIGNED') stats.assigned = row.n;
    else stats.running = row.n;
  }
  return [...byTask.values()].sort((a, b) => a.task.localeCompare(b.task));
}

export async function countRunsByState(sql: SqlClient): Promise<Record<string, number>> {
  const rows = await sql.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM pw_runs GROUP BY state',
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}
