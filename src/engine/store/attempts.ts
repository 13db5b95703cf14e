// Ended attempts of a run, as the store's trigger keeps them (migration 4), oldest first.

import type { AttemptOutcome } from '../../protocol/api.ts';
import type { TaskError } from '../../protocol/schemas.ts';
import type { SqlClient } from './sql.ts';

export interface AttemptRecord {
  attempt: number;
  workerId: string | null;
  assignedAt: number | null;
  startedAt: number | null;
  endedAt: number;
  outcome: AttemptOutcome;
  error: TaskError | null;
}

export async function listAttempts(sql: SqlClient, runId: string): Promise<AttemptRecord[]> {
  return sql.query<AttemptRecord & Record<string, unknown>>(
    `SELECT attempt, worker_id AS "workerId", assigned_at AS "assignedAt", started_at AS "startedAt",
       ended_at AS "endedAt", outcome, error
     FROM pw_attempts WHERE run_id = $1 ORDER BY attempt`,
    [runId],
  );
}
