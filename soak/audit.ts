// A store-level audit for the soak: a trigger records every change into or out of a terminal run state.
import type { Sql } from '../src/engine/store/sql.ts';
import { TerminalRunState } from '../src/protocol/schemas.ts';

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
