// Versioned schema migrations, applied in order on open under an advisory lock so replicas agree.
import type { Sql } from './sql.ts';

const migrations: string[] = [
  // 1: runs, workers, sticky bindings, signing keys, tokens
  `
  CREATE TABLE pw_runs (
    id text PRIMARY KEY,
    seq bigserial NOT NULL,
    task text NOT NULL,
    input jsonb,
    metadata jsonb,
    state text NOT NULL,
    priority integer NOT NULL DEFAULT 0,
    idempotency_key text UNIQUE,
    required_labels jsonb,
    preferred_labels jsonb,
    sticky_key text,
    sticky_mode text,
    concurrency_key text,
    concurrency_limit integer,
    timeout_ms integer,
    retries integer,
    slot_cost integer,
    attempt integer NOT NULL DEFAULT 0,
    failures integer NOT NULL DEFAULT 0,
    deliveries integer NOT NULL DEFAULT 0,
    worker_id text,
    slot_released boolean NOT NULL DEFAULT false,
    ended_by_worker boolean NOT NULL DEFAULT false,
    available_at double precision NOT NULL,
    lease_expires_at double precision,
    deadline_at double precision,
    created_at double precision NOT NULL,
    assigned_at double precision,
    started_at double precision,
    finished_at double precision,
    output jsonb,
    error jsonb
  );
  CREATE INDEX pw_runs_queued ON pw_runs (priority DESC, seq) WHERE state = 'QUEUED';
  CREATE INDEX pw_runs_queued_task ON pw_runs (task) WHERE state = 'QUEUED';
  CREATE INDEX pw_runs_active ON pw_runs (worker_id) WHERE state IN ('ASSIGNED', 'RUNNING');
  CREATE INDEX pw_runs_concurrency ON pw_runs (concurrency_key)
    WHERE state IN ('ASSIGNED', 'RUNNING') AND concurrency_key IS NOT NULL;

  CREATE TABLE pw_workers (
    id text PRIMARY KEY,
    name text NOT NULL,
    url text NOT NULL,
    kind text NOT NULL,
    slots integer NOT NULL,
    labels jsonb NOT NULL,
    tasks jsonb NOT NULL,
    state text NOT NULL,
    paused boolean NOT NULL DEFAULT false,
    reported_used integer,
    last_heartbeat_at double precision NOT NULL,
    push_failing_since double precision,
    created_at double precision NOT NULL,
    UNIQUE (name, url)
  );

  CREATE TABLE pw_sticky (
    sticky_key text PRIMARY KEY,
    worker_id text NOT NULL,
    updated_at double precision NOT NULL
  );

  CREATE TABLE pw_keys (
    kid text PRIMARY KEY,
    private_jwk jsonb NOT NULL,
    public_jwk jsonb NOT NULL,
    created_at double precision NOT NULL,
    retired_at double precision,
    expires_at double precision
  );

  CREATE TABLE pw_tokens (
    id text PRIMARY KEY,
    kind text NOT NULL,
    worker_name text,
    secret_hash text NOT NULL,
    created_at double precision NOT NULL,
    revoked_at double precision
  );
  `,
  // 2: listing runs newest first
  `
  CREATE INDEX pw_runs_seq ON pw_runs (seq);
  `,
  // 3: each task's queue in order, so that a deep queue of one task costs nothing to claims for another
  `
  CREATE INDEX pw_runs_queued_by_task ON pw_runs (task, priority DESC, seq) WHERE state = 'QUEUED';
  DROP INDEX pw_runs_queued_task;
  DROP INDEX pw_runs_queued;
  `,
  // 4: inputs and outputs kept as given (jsonb sorts object keys); every attempt of a run kept when it ends;
  // why a worker's pushes fail
  `
  ALTER TABLE pw_runs ALTER COLUMN input TYPE json USING input::json;
  ALTER TABLE pw_runs ALTER COLUMN output TYPE json USING output::json;
  ALTER TABLE pw_workers ADD COLUMN push_error text;

  CREATE TABLE pw_attempts (
    run_id text NOT NULL REFERENCES pw_runs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    worker_id text,
    assigned_at double precision,
    started_at double precision,
    ended_at double precision NOT NULL,
    outcome text NOT NULL,
    error jsonb,
    PRIMARY KEY (run_id, attempt)
  );

  -- An attempt ends in the update that takes its run out of ASSIGNED or RUNNING, and events of one batch may set
  -- its start in that same update, hence the start from NEW where there is one.
  CREATE FUNCTION pw_record_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO pw_attempts (run_id, attempt, worker_id, assigned_at, started_at, ended_at, outcome, error)
    VALUES (
      OLD.id, OLD.attempt, OLD.worker_id, OLD.assigned_at, coalesce(NEW.started_at, OLD.started_at),
      coalesce(NEW.finished_at, extract(epoch FROM clock_timestamp()) * 1000),
      CASE WHEN NEW.state = 'COMPLETED' THEN 'completed' WHEN NEW.state = 'CANCELLED' THEN 'cancelled'
        WHEN NEW.state = 'FAILED' OR NEW.failures > OLD.failures THEN 'failed' ELSE 'requeued' END,
      CASE WHEN NEW.failures > OLD.failures OR NEW.state IN ('FAILED', 'CANCELLED')
        OR NEW.error::text IS DISTINCT FROM OLD.error::text THEN NEW.error END
    )
    ON CONFLICT (run_id, attempt) DO NOTHING;
    RETURN NULL;
  END;
  $$;

  CREATE TRIGGER pw_runs_attempt_ended AFTER UPDATE ON pw_runs FOR EACH ROW
    WHEN (OLD.state IN ('ASSIGNED', 'RUNNING')
      AND (NEW.state NOT IN ('ASSIGNED', 'RUNNING') OR NEW.attempt <> OLD.attempt))
    EXECUTE FUNCTION pw_record_attempt();
  `,
  // API token scopes (every API token was an administrator before), and the token that created each run, so that
  // an enqueue token cancels and retries only its own runs
  `
  ALTER TABLE pw_tokens ADD COLUMN scope text;
  UPDATE pw_tokens SET scope = 'admin' WHERE kind = 'api';
  ALTER TABLE pw_runs ADD COLUMN created_by text;
  `,
  // Retention and a runs table that can grow: finished runs by when they finished (what retention deletes); the
  // run list and the bulk retry per state, per task and per worker in `seq` order, so that no read of the API, the
  // dashboard or the metrics goes through finished runs it does not return. The index of `seq` alone goes: the
  // planner would read it and filter by state rather than read a state's own range (see the run list, runs.ts)
  `
  CREATE INDEX pw_runs_finished ON pw_runs (finished_at) WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED');
  CREATE INDEX pw_runs_state_seq ON pw_runs (state, seq);
  CREATE INDEX pw_runs_task_state_seq ON pw_runs (task, state, seq);
  CREATE INDEX pw_runs_worker_state_seq ON pw_runs (worker_id, state, seq) WHERE worker_id IS NOT NULL;
  DROP INDEX pw_runs_seq;
  `,
  // queue deadlines: a run not first assigned by expires_at fails; the sweeper finds them by its index, and the
  // dispatcher finds the next queued run to come due by the index on available_at
  `
  ALTER TABLE pw_runs ADD COLUMN expires_at double precision;
  CREATE INDEX pw_runs_queued_expiry ON pw_runs (expires_at) WHERE state = 'QUEUED' AND expires_at IS NOT NULL;
  CREATE INDEX pw_runs_queued_due ON pw_runs (available_at) WHERE state = 'QUEUED';
  `,
  // Rate limits: each run's keys and units, each key's declared and overriding limit, and the units each window
  // of a key has started; concurrency strategies, with the indexes the round-robin and the cancelling strategies
  // read
  `
  ALTER TABLE pw_runs ADD COLUMN rate_limits jsonb;
  ALTER TABLE pw_runs ADD COLUMN concurrency_strategy text;

  CREATE TABLE pw_rate_limits (
    key text PRIMARY KEY,
    declared_limit integer,
    declared_per_ms double precision,
    override_limit integer,
    override_per_ms double precision,
    updated_at double precision NOT NULL
  );

  CREATE TABLE pw_rate_limit_windows (
    key text NOT NULL,
    window_start double precision NOT NULL,
    used integer NOT NULL,
    PRIMARY KEY (key, window_start)
  );
  -- The limit each key is held to: its override when one is set, else its declared limit.
  CREATE VIEW pw_rate_limits_applied AS
    SELECT key, coalesce(override_limit, declared_limit) AS lim,
      CASE WHEN override_limit IS NULL THEN declared_per_ms ELSE override_per_ms END AS per_ms
    FROM pw_rate_limits WHERE coalesce(override_limit, declared_limit) IS NOT NULL;
  -- Whether a run with the rate limit uses given has no room in some key's window at the time given: what the
  -- claims skip and what the autoscaler's ready count leaves out.
  CREATE FUNCTION pw_rate_limited(uses jsonb, at_ms double precision) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT uses IS NOT NULL AND EXISTS (
      SELECT 1 FROM jsonb_to_recordset(uses) AS u(key text, units int)
      JOIN pw_rate_limits_applied l ON l.key = u.key
      LEFT JOIN pw_rate_limit_windows n ON n.key = l.key AND n.window_start = floor(at_ms / l.per_ms) * l.per_ms
      WHERE coalesce(n.used, 0) + u.units > l.lim)
  $$;

  CREATE INDEX pw_runs_round_robin ON pw_runs (task, concurrency_key, priority DESC, seq)
    WHERE state = 'QUEUED' AND concurrency_strategy = 'GROUP_ROUND_ROBIN';
  CREATE INDEX pw_runs_concurrency_served ON pw_runs (concurrency_key, assigned_at)
    WHERE concurrency_key IS NOT NULL;
  CREATE INDEX pw_runs_concurrency_open ON pw_runs (concurrency_key, seq)
    WHERE state IN ('QUEUED', 'ASSIGNED', 'RUNNING') AND concurrency_key IS NOT NULL;
  `,
  // cron schedules: declared by tasks in worker manifests (source 'code') or created through the API ('api'); each
  // fired tick enqueues a run whose idempotency key names the schedule and the tick
  `
  CREATE TABLE pw_schedules (
    name text PRIMARY KEY,
    task text NOT NULL,
    input json,
    metadata jsonb,
    cron text NOT NULL,
    timezone text NOT NULL,
    missed text NOT NULL,
    backfill_limit integer NOT NULL,
    paused boolean NOT NULL DEFAULT false,
    source text NOT NULL,
    last_tick_at double precision,
    next_tick_at double precision,
    created_at double precision NOT NULL
  );
  CREATE INDEX pw_schedules_due ON pw_schedules (next_tick_at) WHERE NOT paused;
  `,
  // Declared rate limit keys by when they were last declared: what the pruning of idle keys reads
  `
  CREATE INDEX pw_rate_limits_declared ON pw_rate_limits (updated_at) WHERE override_limit IS NULL;
  `,
  // published events: idempotent by id, with the runs each enqueued (a run per listening task, keyed by the event
  // and the task); deleted with the finished runs' retention
  `
  CREATE TABLE pw_events (
    id text PRIMARY KEY,
    seq bigserial NOT NULL,
    name text NOT NULL,
    key text,
    payload json,
    runs jsonb NOT NULL DEFAULT '[]',
    created_by text,
    created_at double precision NOT NULL
  );
  CREATE INDEX pw_events_seq ON pw_events (seq);
  CREATE INDEX pw_events_name ON pw_events (name, seq);
  CREATE INDEX pw_events_key ON pw_events (key, seq) WHERE key IS NOT NULL;
  CREATE INDEX pw_events_created ON pw_events (created_at);
  `,
  // workflows: the DAGs workers declare, workflow runs (with the DAG as it was at enqueue), the task runs of each
  // (a task run ended but not yet acted on by the workflow advance is `dag_pending`), and the workflow runs an
  // event enqueued
  `
  ALTER TABLE pw_workers ADD COLUMN workflows jsonb NOT NULL DEFAULT '[]';
  ALTER TABLE pw_events ADD COLUMN workflow_runs jsonb NOT NULL DEFAULT '[]';
  CREATE TABLE pw_workflow_runs (
    id text PRIMARY KEY,
    seq bigserial NOT NULL,
    workflow text NOT NULL,
    definition jsonb NOT NULL,
    input jsonb,
    metadata jsonb,
    state text NOT NULL,
    idempotency_key text UNIQUE,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_by text,
    created_at double precision NOT NULL,
    finished_at double precision
  );
  CREATE INDEX pw_workflow_runs_seq ON pw_workflow_runs (seq);
  CREATE INDEX pw_workflow_runs_workflow ON pw_workflow_runs (workflow, seq);
  CREATE INDEX pw_workflow_runs_finished ON pw_workflow_runs (finished_at) WHERE state <> 'RUNNING';
  CREATE INDEX pw_workflow_runs_running ON pw_workflow_runs (seq) WHERE state = 'RUNNING';
  ALTER TABLE pw_runs ADD COLUMN workflow_run_id text;
  ALTER TABLE pw_runs ADD COLUMN parent_outputs jsonb;
  ALTER TABLE pw_runs ADD COLUMN dag_pending boolean NOT NULL DEFAULT false;
  CREATE INDEX pw_runs_workflow_run ON pw_runs (workflow_run_id) WHERE workflow_run_id IS NOT NULL;
  CREATE INDEX pw_runs_dag_pending ON pw_runs (workflow_run_id)
    WHERE dag_pending AND state IN ('COMPLETED', 'FAILED', 'CANCELLED');
  `,
  // durable runs: the journal sent back with every push, and what a suspended run waits for; an attempt that
  // suspended is recorded as such (the run went back to the queue with its journal grown)
  `
  ALTER TABLE pw_runs ADD COLUMN journal jsonb;
  ALTER TABLE pw_runs ADD COLUMN waiting jsonb;
  CREATE INDEX pw_runs_waiting_event ON pw_runs ((waiting ->> 'event'))
    WHERE state = 'QUEUED' AND waiting IS NOT NULL;
  CREATE OR REPLACE FUNCTION pw_record_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO pw_attempts (run_id, attempt, worker_id, assigned_at, started_at, ended_at, outcome, error)
    VALUES (
      OLD.id, OLD.attempt, OLD.worker_id, OLD.assigned_at, coalesce(NEW.started_at, OLD.started_at),
      coalesce(NEW.finished_at, extract(epoch FROM clock_timestamp()) * 1000),
      CASE WHEN NEW.state = 'COMPLETED' THEN 'completed' WHEN NEW.state = 'CANCELLED' THEN 'cancelled'
        WHEN NEW.state = 'FAILED' OR NEW.failures > OLD.failures THEN 'failed'
        WHEN NEW.state = 'QUEUED' AND NEW.journal::text IS DISTINCT FROM OLD.journal::text THEN 'suspended'
        ELSE 'requeued' END,
      CASE WHEN NEW.failures > OLD.failures OR NEW.state IN ('FAILED', 'CANCELLED')
        OR NEW.error::text IS DISTINCT FROM OLD.error::text THEN NEW.error END
    )
    ON CONFLICT (run_id, attempt) DO NOTHING;
    RETURN NULL;
  END;
  $$;
  `,
  // child runs: each with the run that spawned it; the runs suspended until a child ends, by the child
  `
  ALTER TABLE pw_runs ADD COLUMN parent_run_id text;
  CREATE INDEX pw_runs_waiting_child ON pw_runs ((waiting ->> 'child'))
    WHERE state = 'QUEUED' AND (waiting ->> 'child') IS NOT NULL;
  `,
  // task log lines: what a task logged through ctx.log, per attempt in its order, deleted with its run
  `
  CREATE TABLE pw_run_logs (
    run_id text NOT NULL REFERENCES pw_runs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    seq integer NOT NULL,
    at double precision NOT NULL,
    level text NOT NULL,
    message text NOT NULL,
    fields json,
    PRIMARY KEY (run_id, attempt, seq)
  );
  `,
  // tracing: the W3C traceparent a run's spans descend from (given at the enqueue, or the engine's own)
  `
  ALTER TABLE pw_runs ADD COLUMN traceparent text;
  `,
  // the console's filters and charts: the run list by metadata (`@>`) and by enqueue time, runs by when they were
  // last assigned (dispatch latency), and the queue depth per task sampled over time, one row per sample instant
  `
  CREATE INDEX pw_runs_metadata ON pw_runs USING gin (metadata jsonb_path_ops) WHERE metadata IS NOT NULL;
  CREATE INDEX pw_runs_created ON pw_runs (created_at);
  CREATE INDEX pw_runs_assigned ON pw_runs (assigned_at) WHERE assigned_at IS NOT NULL;
  CREATE TABLE pw_queue_samples (
    at double precision PRIMARY KEY,
    depths jsonb NOT NULL
  );
  `,
  // tracing: the W3C traceparent a workflow run's task runs descend from (its enqueue span, or its last retry's)
  `
  ALTER TABLE pw_workflow_runs ADD COLUMN traceparent text;
  `,
  // rate limits once per try: the try (its failures when it was claimed) whose units a run took, so that a push
  // resuming the same try (after a suspension, a lost lease, a refused push) takes none again
  `
  ALTER TABLE pw_runs ADD COLUMN rate_units_try integer;
  `,
  // push sizes: the largest push body a worker reads, as it announced it, so that pushes to it are cut to fit
  `
  ALTER TABLE pw_workers ADD COLUMN max_body_bytes integer;
  `,
  // the console's charts: runs finished and dispatch latencies per second, rolled up once the second has settled,
  // and the mark of the last second rolled up (one row)
  `
  CREATE TABLE pw_run_seconds (
    at double precision PRIMARY KEY,
    completed integer NOT NULL,
    failed integer NOT NULL,
    latency jsonb NOT NULL
  );
  CREATE TABLE pw_run_seconds_mark (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    through double precision NOT NULL
  );
  INSERT INTO pw_run_seconds_mark (through) VALUES (0);
  `,
  // cancels cascade to child runs: a cancelled run whose live children are still to be cancelled is flagged (set
  // in the cancel's own transaction, cleared once none is left); the flagged runs, and each parent's live
  // children, have an index each, so that the sweep's look and each batch read no finished run
  `
  ALTER TABLE pw_runs ADD COLUMN cancel_children boolean NOT NULL DEFAULT false;
  CREATE INDEX pw_runs_cancel_children ON pw_runs (seq) WHERE cancel_children;
  CREATE INDEX pw_runs_live_children ON pw_runs (parent_run_id)
    WHERE parent_run_id IS NOT NULL AND state IN ('QUEUED', 'ASSIGNED', 'RUNNING');
  `,
  // A runs table that can grow: queued runs by when they come due hold only those due after they were queued
  // (delays, retry back-offs, durable sleeps and waits, re-queues), all that the dispatcher's next due time reads
  // (due.ts). An enqueue due now no longer writes the index, and the claims, whose conditions do not imply its
  // predicate, can no longer read it instead of their own: on a grown store, after a burst of enqueues, the
  // planner took it for them and read every queued run it held.
  `
  DROP INDEX pw_runs_queued_due;
  CREATE INDEX pw_runs_queued_later ON pw_runs (available_at) WHERE state = 'QUEUED' AND available_at > created_at;
  `,
  // runs cancelled before cancels cascaded, whose children are still live, are flagged: the next sweep cancels
  // those children (found through the index of live children, not by reading every cancelled run)
  `
  UPDATE pw_runs SET cancel_children = true
  WHERE state = 'CANCELLED' AND id IN (
    SELECT parent_run_id FROM pw_runs
    WHERE parent_run_id IS NOT NULL AND state IN ('QUEUED', 'ASSIGNED', 'RUNNING'));
  `,
];

export const SCHEMA_VERSION = migrations.length;

/** Migrates to the newest schema, or only as far as `through` (a test's store from before some change). */
export async function migrate(sql: Sql, through = migrations.length): Promise<void> {
  await sql.transaction(async (tx) => {
    // Serialises concurrent openers (several replicas starting at once).
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('pushworker:migrate'))`);
    await tx.query(
      'CREATE TABLE IF NOT EXISTS pw_migrations (version integer PRIMARY KEY, applied_at double precision NOT NULL)',
    );
    const rows = await tx.query<{ v: number | null }>('SELECT max(version)::int AS v FROM pw_migrations');
    const current = rows[0]?.v ?? 0;
    for (let version = current + 1; version <= through; version++) {
      for (const statement of splitStatements(migrations[version - 1]!)) await tx.query(statement);
      await tx.query('INSERT INTO pw_migrations (version, applied_at) VALUES ($1, $2)', [
        version,
        Date.now(),
      ]);
    }
  });
}

/** The statements of a migration, split at semicolons outside dollar-quoted bodies (`$$ ... $$`): its comments hold none. */
export function splitStatements(text: string): string[] {
  const statements: string[] = [];
  let current = '';
  for (const [i, part] of text.split('$$').entries()) {
    if (i % 2 === 1) {
      current += `$$${part}$$`;
      continue;
    }
    const pieces = part.split(';');
    current += pieces.shift();
    for (const piece of pieces) {
      statements.push(current);
      current = piece;
    }
  }
  statements.push(current);
  return statements.map((s) => s.trim()).filter((s) => s.length > 0);
}
