// A run's task log lines, as its workers sent them with its events (migration 13), kept until the run is deleted.
import type { RunLogLevel } from '../../protocol/schemas.ts';
import type { SqlClient } from './sql.ts';

export interface RunLogRecord {
  runId: string;
  attempt: number;
  seq: number;
  at: number;
  level: RunLogLevel;
  message: string;
  fields: Record<string, unknown> | null;
}

/**
 * Stores the lines whose attempt is still the run's current one and under way, as the event batch that carries
 * them found it; a line stored before (a post sent again) is left as it is. It runs before the batch writes its
 * runs, so a terminal event in the same batch does not refuse the lines raised before it. The foreign key's
 * checks lock each run (FOR KEY SHARE) as its rows go in: in run id order, the order every batch locks its runs
 * in, so that a concurrent batch's write cannot deadlock with them.
 */
export async function insertRunLogs(client: Pick<SqlClient, 'query'>, lines: RunLogRecord[]): Promise<void> {
  const records = lines.map((l) => ({
    run_id: l.runId,
    attempt: l.attempt,
    seq: l.seq,
    at: l.at,
    level: l.level,
    message: l.message,
    fields: l.fields,
  }));
  await client.query(
    `INSERT INTO pw_run_logs (run_id, attempt, seq, at, level, message, fields)
     SELECT x.run_id, x.attempt, x.seq, x.at, x.level, x.message, x.fields
     FROM json_to_recordset($1::json) AS x(run_id text, attempt int, seq int, at float8, level text, message text,
       fields json)
     JOIN pw_runs r ON r.id = x.run_id AND r.attempt = x.attempt AND r.state IN ('ASSIGNED', 'RUNNING')
     ORDER BY x.run_id, x.attempt, x.seq
     ON CONFLICT (run_id, attempt, seq) DO NOTHING`,
    [JSON.stringify(records)],
  );
}

/** Every stored line of a run, by attempt and then in the order logged. */
export async function listRunLogs(client: Pick<SqlClient, 'query'>, runId: string): Promise<RunLogRecord[]> {
  return client.query<RunLogRecord & Record<string, unknown>>(
    `SELECT run_id AS "runId", attempt, seq, at, level, message, fields
     FROM pw_run_logs WHERE run_id = $1 ORDER BY attempt, seq`,
    [runId],
  );
}
