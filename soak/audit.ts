// A store-level audit for the soak: a trigger records every change into or out of a terminal run state.
import type { Sql } from '../src/engine/store/sql.ts';
import { TerminalRunState } from '../src/protocol/schemas.ts';
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
