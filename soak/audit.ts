// A store-level audit for the soak: a trigger records every change into or out of a terminal run state.
import type { Sql } from '../src/engine/store/sql.ts';
import { TerminalRunState } from '../src/protocol/schemas.ts';
import type { DurableAudit } from './durable.ts';
import type { Assignment, FlowAudit, ScheduleAudit } from './flow.ts';

const TERMINAL = `(${TerminalRunState.options.map((s) => `'${s}'`).join(', ')})`;

/** Idempotent: safe on every engine start. */
export async function installAudit(sql: Sql): Promise<void> {
  await sql.exec(`
    CREATE TABLE IF NOT EXISTS soak_audit (
      id bigserial PRIMARY KEY,
      run_id text NOT NULL,
      old_state text NOT NULL,
      new_state text NOT NULL,
      attempt integer NOT NULL,
      output jsonb
    );
    CREATE OR REPLACE FUNCTION soak_audit_row() RETURNS trigger AS $$
    BEGIN
      IF (NEW.state IN ${TERMINAL} OR OLD.state IN ${TERMINAL})
         AND (OLD.state IS DISTINCT FROM NEW.state OR OLD.output::text IS DISTINCT FROM NEW.output::text
              OR OLD.attempt IS DISTINCT FROM NEW.attempt) THEN
        INSERT INTO soak_audit (run_id, old_state, new_state, attempt, output)
        VALUES (NEW.id, OLD.state, NEW.state, NEW.attempt, NEW.output);
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS soak_audit_trigger ON pw_runs;
    CREATE TRIGGER soak_audit_trigger AFTER UPDATE ON pw_runs FOR EACH ROW EXECUTE FUNCTION soak_audit_row();

    CREATE TABLE IF NOT EXISTS soak_journal_audit (
      id bigserial PRIMARY KEY,
      run_id text NOT NULL,
      attempt integer NOT NULL,
      journal jsonb,
      at double precision NOT NULL
    );
    CREATE OR REPLACE FUNCTION soak_journal_row() RETURNS trigger AS $$
    BEGIN
      IF NEW.journal::text IS DISTINCT FROM OLD.journal::text THEN
        INSERT INTO soak_journal_audit (run_id, attempt, journal, at)
        VALUES (NEW.id, OLD.attempt, NEW.journal, extract(epoch FROM clock_timestamp()) * 1000);
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS soak_journal_trigger ON pw_runs;
    CREATE TRIGGER soak_journal_trigger AFTER UPDATE ON pw_runs FOR EACH ROW EXECUTE FUNCTION soak_journal_row();

    CREATE TABLE IF NOT EXISTS soak_workflow_audit (
      id bigserial PRIMARY KEY,
      workflow_run_id text NOT NULL,
      old_state text,
      new_state text NOT NULL
    );
    CREATE OR REPLACE FUNCTION soak_workflow_row() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state THEN
        INSERT INTO soak_workflow_audit (workflow_run_id, old_state, new_state)
        VALUES (NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, NEW.state);
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS soak_workflow_trigger ON pw_workflow_runs;
    CREATE TRIGGER soak_workflow_trigger AFTER INSERT OR UPDATE ON pw_workflow_runs
      FOR EACH ROW EXECUTE FUNCTION soak_workflow_row();
  `);
}

export interface AuditRow {
  run_id: string;
  old_state: string;
  new_state: string;
  attempt: number;
  output: { nonce?: string; attempt?: number } | null;
}

export async function readAudit(sql: Sql): Promise<AuditRow[]> {
  return sql.query<AuditRow & Record<string, unknown>>(
    'SELECT run_id, old_state, new_state, attempt, output FROM soak_audit ORDER BY id',
  );
}

/**
 * What the flow checks read of the store (flow.ts): the schedules, the runs their ticks enqueued (by the metadata
 * the engine sets on them), the rate limits applied, and every attempt of a rate-limited run with the moment it was
 * assigned (ended attempts from `pw_attempts`, live ones from the run itself).
 */
export async function readFlowAudit(sql: Sql): Promise<Omit<FlowAudit, 'downtimes' | 'through'>> {
  const schedules = await sql.query<Record<string, unknown>>(
    'SELECT name, cron, timezone, missed, created_at FROM pw_schedules ORDER BY name',
  );
  const ticks = await sql.query<Record<string, unknown>>(
    `SELECT id, idempotency_key, created_at, metadata->>'pushworker.schedule' AS schedule,
       metadata->>'pushworker.tick' AS tick
     FROM pw_runs WHERE metadata->>'pushworker.schedule' IS NOT NULL ORDER BY seq`,
  );
  const limits = await sql.query<Record<string, unknown>>(
    'SELECT key, lim, per_ms FROM pw_rate_limits_applied ORDER BY key',
  );
  const ended = await sql.query<Record<string, unknown>>(
    `SELECT a.run_id, a.attempt, a.assigned_at, r.rate_limits FROM pw_attempts a JOIN pw_runs r ON r.id = a.run_id
     WHERE r.rate_limits IS NOT NULL AND a.assigned_at IS NOT NULL`,
  );
  const live = await sql.query<Record<string, unknown>>(
    `SELECT id AS run_id, attempt, assigned_at, rate_limits FROM pw_runs
     WHERE rate_limits IS NOT NULL AND assigned_at IS NOT NULL AND state IN ('ASSIGNED', 'RUNNING')`,
  );
  return {
    schedules: schedules.map((r) => ({
      name: r.name as string,
      cron: r.cron as string,
      timezone: r.timezone as string,
      missed: r.missed as ScheduleAudit['missed'],
      createdAt: Number(r.created_at),
    })),
    ticks: ticks.map((r) => ({
      runId: r.id as string,
      schedule: r.schedule as string,
      tick: Date.parse(r.tick as string),
      idempotencyKey: (r.idempotency_key as string | null) ?? null,
      createdAt: Number(r.created_at),
    })),
    rateLimits: limits.map((r) => ({ key: r.key as string, limit: Number(r.lim), perMs: Number(r.per_ms) })),
    assignments: [...ended, ...live].map((r) => ({
      runId: r.run_id as string,
      attempt: Number(r.attempt),
      assignedAt: Number(r.assigned_at),
      uses: r.rate_limits as Assignment['uses'],
    })),
  };
}

/**
 * What the durable checks read of the store (durable.ts): the workflow runs and their state changes, every run of
 * a workflow or spawned as a child, each change of a journal (the attempt it was made in, and when), the attempts
 * of those runs, and the published events.
 */
export async function readDurableAudit(sql: Sql): Promise<Omit<DurableAudit, 'plans' | 'downtimes' | 'end'>> {
  const workflowRuns = await sql.query<Record<string, unknown>>(
    'SELECT id, workflow, state, input FROM pw_workflow_runs ORDER BY seq',
  );
  const transitions = await sql.query<Record<string, unknown>>(
    'SELECT workflow_run_id, old_state, new_state FROM soak_workflow_audit ORDER BY id',
  );
  const runs = await sql.query<Record<string, unknown>>(
    `SELECT id, task, state, attempt, workflow_run_id, parent_run_id, journal, available_at FROM pw_runs
     WHERE workflow_run_id IS NOT NULL OR parent_run_id IS NOT NULL OR journal IS NOT NULL ORDER BY seq`,
  );
  const journals = await sql.query<Record<string, unknown>>(
    'SELECT run_id, attempt, journal, at FROM soak_journal_audit ORDER BY id',
  );
  const attempts = await sql.query<Record<string, unknown>>(
    `SELECT a.run_id, a.attempt, a.assigned_at, a.outcome FROM pw_attempts a JOIN pw_runs r ON r.id = a.run_id
     WHERE r.journal IS NOT NULL ORDER BY a.run_id, a.attempt`,
  );
  const events = await sql.query<Record<string, unknown>>(
    'SELECT id, name, payload, created_at FROM pw_events ORDER BY seq',
  );
  return {
    workflowRuns: workflowRuns.map((r) => ({
      id: r.id as string,
      workflow: r.workflow as string,
      state: r.state as string,
      input: r.input,
    })),
    transitions: transitions.map((r) => ({
      workflowRunId: r.workflow_run_id as string,
      oldState: (r.old_state as string | null) ?? null,
      newState: r.new_state as string,
    })),
    runs: runs.map((r) => ({
      id: r.id as string,
      task: r.task as string,
      state: r.state as string,
      attempt: Number(r.attempt),
      workflowRunId: (r.workflow_run_id as string | null) ?? null,
      parentRunId: (r.parent_run_id as string | null) ?? null,
      journal: (r.journal as DurableAudit['runs'][number]['journal']) ?? null,
      availableAt: Number(r.available_at),
    })),
    journals: journals.map((r) => ({
      runId: r.run_id as string,
      attempt: Number(r.attempt),
      journal: (r.journal as DurableAudit['runs'][number]['journal']) ?? null,
      at: Number(r.at),
    })),
    attempts: attempts.map((r) => ({
      runId: r.run_id as string,
      attempt: Number(r.attempt),
      assignedAt: r.assigned_at === null ? null : Number(r.assigned_at),
      outcome: r.outcome as string,
    })),
    events: events.map((r) => ({
      id: r.id as string,
      name: r.name as string,
      payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
      createdAt: Number(r.created_at),
    })),
  };
}
