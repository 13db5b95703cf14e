// Run queries outside dispatch: enqueue (with idempotency keys), read, cancel, stats.
import type { DeadReason, MetadataMatch } from '../../protocol/api.ts';
import { type ConcurrencyStrategy, type Labels, RunState, type StickyMode } from '../../protocol/schemas.ts';
import { DEAD_REASON } from './dead.ts';
import { heldByRateLimit } from './rate-limits.ts';
import { json, type PreferredLabels, type RateLimitUse, type RunRecord, toRun } from './records.ts';
import type { Row, Sql, SqlClient } from './sql.ts';

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
  concurrencyStrategy?: ConcurrencyStrategy | undefined;
  /** The rate limit keys the run is held to, resolved from its input. */
  rateLimits?: RateLimitUse[] | undefined;
  timeoutMs?: number | undefined;
  retries?: number | undefined;
  slotCost?: number | undefined;
  /** The id of the minted API token that enqueues the run. */
  createdBy?: string | null | undefined;
  /** When it is due (default: at once, the insert's `now`). */
  availableAt?: number | undefined;
  /** Its queue deadline (default none). */
  expiresAt?: number | null | undefined;
  /** A workflow task's run: its workflow run, and its parents' outputs by task name. */
  workflowRunId?: string | undefined;
  parentOutputs?: Record<string, unknown> | undefined;
  /** A child run: the run that spawned it. */
  parentRunId?: string | undefined;
  /** The W3C traceparent the run's spans descend from. */
  traceparent?: string | undefined;
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
    concurrency_strategy: r.concurrencyKey ? (r.concurrencyStrategy ?? null) : null,
    rate_limits: r.rateLimits?.length ? r.rateLimits : null,
    timeout_ms: r.timeoutMs ?? null,
    retries: r.retries ?? null,
    slot_cost: r.slotCost ?? null,
    created_by: r.createdBy ?? null,
    available_at: Math.max(r.availableAt ?? now, now),
    expires_at: r.expiresAt ?? null,
    workflow_run_id: r.workflowRunId ?? null,
    parent_outputs: r.parentOutputs ?? null,
    parent_run_id: r.parentRunId ?? null,
    traceparent: r.traceparent ?? null,
  }));
  const inserted = await sql.query(
    `INSERT INTO pw_runs (id, task, input, metadata, priority, idempotency_key, required_labels, preferred_labels,
       sticky_key, sticky_mode, concurrency_key, concurrency_limit, concurrency_strategy, rate_limits, timeout_ms,
       retries, slot_cost, created_by, state, available_at, expires_at, created_at, workflow_run_id, parent_outputs,
       dag_pending, parent_run_id, traceparent)
     SELECT x.id, x.task, x.input, x.metadata, x.priority, x.idempotency_key, x.required_labels, x.preferred_labels,
       x.sticky_key, x.sticky_mode, x.concurrency_key, x.concurrency_limit, x.concurrency_strategy, x.rate_limits,
       x.timeout_ms, x.retries, x.slot_cost, x.created_by, 'QUEUED', x.available_at, x.expires_at, $2,
       x.workflow_run_id, x.parent_outputs, x.workflow_run_id IS NOT NULL, x.parent_run_id,
       x.traceparent
     FROM json_to_recordset($1::json) AS x(id text, task text, input json, metadata jsonb, priority int,
       idempotency_key text, required_labels jsonb, preferred_labels jsonb, sticky_key text, sticky_mode text,
       concurrency_key text, concurrency_limit int, concurrency_strategy text, rate_limits jsonb, timeout_ms int,
       retries int, slot_cost int, created_by text, available_at float8, expires_at float8, workflow_run_id text,
       parent_outputs jsonb, parent_run_id text, traceparent text)
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
  /** Only dead runs of these reasons. */
  dead?: DeadReason[] | undefined;
  /** Only runs whose metadata has this key with this value (as a string, or the number or boolean it reads as). */
  metadata?: MetadataMatch | undefined;
  /** Only runs enqueued at or after this time, and before this one (epoch ms). */
  createdAfter?: number | undefined;
  createdBefore?: number | undefined;
  limit: number;
  /** Only runs enqueued before the run with this sequence number (the previous page's last). */
  beforeSeq?: number | undefined;
}

/*
 * The run list, one statement per filter shape, each read newest first through an index that holds its filter
 * (a condition such as `$1 IS NULL OR task = $1` would leave the planner only a scan of every run in `seq`
 * order, through all the finished runs of other tasks). Each state's runs are read through their own index
 * range, LATERAL, and merged: `state = ANY(…)` over an index of (state, seq) finds the rows but not in order.
 * There is no index of `seq` alone: given one, the planner reads it and filters by state, guessing that a
 * quarter of all runs are in any state, and reads every run when a state has none. The unfiltered list is
 * the list in every state. A metadata filter is read through the GIN index of metadata (`@>`), a time range
 * through the index of `created_at`, when those are the narrower. $1 the page size, $2 the sequence number the
 * page ends before, $3 the states, $4 the dead reasons of FAILED runs (null: any run); then each filter given,
 * in the order below. The shapes are few (every combination of five filters), so each text stays prepared.
 */
const DEAD_ONLY = `($4::text[] IS NULL OR (r.state = 'FAILED' AND ${DEAD_REASON} = ANY($4::text[])))`;

function listRunsStatement(f: RunFilter): { text: string; filters: unknown[] } {
  const where = ['r.state = s.state', 'r.seq < $2::bigint', DEAD_ONLY];
  const filters: unknown[] = [];
  const param = (value: unknown) => `$${4 + filters.push(value)}`;
  if (f.workerId !== undefined) where.push(`r.worker_id = ${param(f.workerId)}`);
  if (f.task !== undefined) where.push(`r.task = ${param(f.task)}`);
  if (f.metadata !== undefined) {
    const matches = metadataValues(f.metadata).map((v) => `r.metadata @> ${param(v)}::jsonb`);
    where.push(`(${matches.join(' OR ')})`);
  }
  if (f.createdAfter !== undefined) where.push(`r.created_at >= ${param(f.createdAfter)}::float8`);
  if (f.createdBefore !== undefined) where.push(`r.created_at < ${param(f.createdBefore)}::float8`);
  const text = `SELECT q.* FROM unnest($3::text[]) AS s(state) CROSS JOIN LATERAL (
    SELECT * FROM pw_runs r WHERE ${where.join(' AND ')}
    ORDER BY r.seq DESC LIMIT $1
  ) AS q
  ORDER BY q.seq DESC LIMIT $1`;
  return { text, filters };
}

/** The metadata a match may be: `{key: value}` with the value as a string, and as the number or boolean it reads as. */
function metadataValues({ key, value }: MetadataMatch): string[] {
  const values: unknown[] = [value];
  if (/^(true|false)$/.test(value) || /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(value)) {
    const read = JSON.parse(value) as unknown;
    if (typeof read === 'boolean' || Number.isFinite(read)) values.push(read);
  }
  return values.map((v) => JSON.stringify({ [key]: v }));
}

/** Past every sequence number: the first page. */
const FIRST_PAGE = '9223372036854775807';

/** Runs newest first, with their sequence numbers for paging. */
export async function listRuns(sql: SqlClient, f: RunFilter): Promise<(RunRecord & { seq: number })[]> {
  const page = [f.limit, f.beforeSeq === undefined ? FIRST_PAGE : String(f.beforeSeq)];
  const states = [...new Set(f.states?.length ? f.states : RunState.options)];
  const dead = f.dead?.length ? f.dead : null;
  const { text, filters } = listRunsStatement(f);
  const rows = await sql.query(text, [...page, states, dead, ...filters]);
  return rows.map((row) => ({ ...toRun(row), seq: Number(row.seq) }));
}

/** Whether the run `r` has a child run that is queued, assigned or running (through `pw_runs_live_children`). */
export const HAS_LIVE_CHILDREN = `EXISTS (SELECT 1 FROM pw_runs c
    WHERE c.parent_run_id = r.id AND c.state IN ('QUEUED', 'ASSIGNED', 'RUNNING'))`;

/**
 * What every cancel of a run `r` sets, at $2: a run left with live children is flagged `cancel_children`, in the
 * cancel's own transaction, and the cascade (child-runs.ts) cancels them. The caller has locked the runs FOR
 * UPDATE in an earlier statement of its transaction, so that this statement's snapshot sees every child a spawn
 * committed meanwhile (a spawn locks its parent FOR KEY SHARE, see `lockSpawningParent`, and refuses once the
 * parent is cancelled): no child outlives a cancelled parent unflagged.
 */
export const CANCELLED = `state = 'CANCELLED', ended_by_worker = false, finished_at = $2, lease_expires_at = NULL,
  deadline_at = NULL, cancel_children = ${HAS_LIVE_CHILDREN}`;

/**
 * Cancels the runs $1 at $2 with the error $3; the caller has checked that they are queued or on a worker, and
 * locked them (see `CANCELLED`).
 */
export const CANCEL_RUNS = `UPDATE pw_runs r SET ${CANCELLED}, error = $3::jsonb
  WHERE r.id = ANY($1::text[]) RETURNING r.*`;

export interface CancelOutcome {
  run: RunRecord;
  /** Set when the run was on a worker, which must be told to stop it. */
  notify?: { workerId: string; attempt: number };
}

/**
 * The runs a cancel statement returned, each with the worker to tell when it was on one: `prior` are the rows the
 * cancel locked first (`id`, `state`, `worker_id`, `attempt`), as they were.
 */
export function cancelOutcomes(cancelled: Row[], prior: Row[]): CancelOutcome[] {
  const before = new Map(prior.map((p) => [p.id as string, p]));
  return cancelled.map((row) => {
    const run = toRun(row);
    const was = before.get(run.id)!;
    const onWorker = was.state !== 'QUEUED' && was.worker_id;
    return onWorker
      ? { run, notify: { workerId: was.worker_id as string, attempt: was.attempt as number } }
      : { run };
  });
}

/** Cancels a queued or running run; a terminal run is returned unchanged. */
export async function cancelRun(sql: Sql, id: string, now: number): Promise<CancelOutcome | undefined> {
  return sql.transaction(async (tx) => {
    const rows = await tx.query('SELECT * FROM pw_runs WHERE id = $1 FOR UPDATE', [id]);
    if (!rows[0]) return undefined;
    const before = toRun(rows[0]);
    if (!['QUEUED', 'ASSIGNED', 'RUNNING'].includes(before.state)) return { run: before };
    const updated = await tx.query(CANCEL_RUNS, [
      [id],
      now,
      json({ message: 'the run was cancelled', name: 'Cancelled', retryable: false }),
    ]);
    const run = toRun(updated[0]!);
    const onWorker = before.state !== 'QUEUED' && before.workerId;
    return onWorker ? { run, notify: { workerId: before.workerId!, attempt: before.attempt } } : { run };
  });
}

export interface TaskStats {
  task: string;
  queued: number;
  /** Queued and available now: due, not expired, not in a retry back-off, not held back by a rate limit. */
  ready: number;
  /** Queued and not due yet (delayed, or in a retry backoff). */
  scheduled: number;
  assigned: number;
  running: number;
}

export async function taskStats(sql: SqlClient, now: number): Promise<TaskStats[]> {
  const rows = await sql.query<{ task: string; state: string; ready: number; scheduled: number; n: number }>(
    `SELECT task, state, count(*)::int AS n,
       count(*) FILTER (WHERE available_at <= $1 AND (expires_at IS NULL OR expires_at > $1)
         AND NOT ${heldByRateLimit('$1')})::int AS ready,
       count(*) FILTER (WHERE available_at > $1)::int AS scheduled
     FROM pw_runs r WHERE state IN ('QUEUED', 'ASSIGNED', 'RUNNING') GROUP BY task, state`,
    [now],
  );
  const byTask = new Map<string, TaskStats>();
  for (const row of rows) {
    let stats = byTask.get(row.task);
    if (!stats) {
      stats = { task: row.task, queued: 0, ready: 0, scheduled: 0, assigned: 0, running: 0 };
      byTask.set(row.task, stats);
    }
    if (row.state === 'QUEUED') {
      stats.queued = row.n;
      stats.ready = row.ready;
      stats.scheduled = row.scheduled;
    } else if (row.state === 'ASSIGNED') stats.assigned = row.n;
    else stats.running = row.n;
  }
  return [...byTask.values()].sort((a, b) => a.task.localeCompare(b.task));
}

/**
 * Queued, assigned and running runs per state. Finished runs are not counted: their number only grows (until
 * retention deletes them) and counting it would read every one of them; the `*_total` counters say how many runs
 * finished.
 */
export async function countLiveRunsByState(sql: SqlClient): Promise<Record<string, number>> {
  const rows = await sql.query<{ state: string; n: number }>(
    `SELECT state, count(*)::int AS n FROM pw_runs WHERE state IN ('QUEUED', 'ASSIGNED', 'RUNNING') GROUP BY state`,
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}
