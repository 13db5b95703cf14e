// Worker rows: registration, heartbeats, operator pause, push health and liveness sweeps.
import type { Registration, WorkerHeartbeat } from '../../protocol/schemas.ts';
import { toWorker, type WorkerRecord } from './records.ts';
import type { SqlClient } from './sql.ts';

const WITH_USAGE = `SELECT w.*, coalesce(u.used, 0)::int AS used FROM pw_workers w
  LEFT JOIN (SELECT worker_id, sum(slot_cost) AS used FROM pw_runs
             WHERE state IN ('ASSIGNED', 'RUNNING') AND NOT slot_released GROUP BY worker_id) u
  ON u.worker_id = w.id`;

/** Registers or refreshes a worker, keyed by (name, url); returns it ACTIVE. */
export async function upsertWorker(
  sql: SqlClient,
  registration: Registration & { url: string },
  kind: WorkerRecord['kind'],
  now: number,
): Promise<WorkerRecord> {
  const rows = await sql.query(
    `INSERT INTO pw_workers (id, name, url, kind, slots, labels, tasks, workflows, state, last_heartbeat_at, created_at, max_body_bytes)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $9::jsonb, 'ACTIVE', $8, $8, $10)
     ON CONFLICT (name, url) DO UPDATE SET kind = excluded.kind, slots = excluded.slots, max_body_bytes = excluded.max_body_bytes,
       labels = excluded.labels, tasks = excluded.tasks, workflows = excluded.workflows, state = 'ACTIVE', last_heartbeat_at = excluded.last_heartbeat_at,
       push_failing_since = NULL, push_error = NULL
     RETURNING *`,
    [
      `wkr_${crypto.randomUUID()}`,
      registration.name,
      registration.url,
      kind,
      registration.slots,
      JSON.stringify(registration.labels ?? {}),
      JSON.stringify(registration.tasks),
      now,
      JSON.stringify(registration.workflows ?? []),
      registration.maxBodyBytes ?? null,
    ],
  );
  return toWorker(rows[0]!);
}

export async function getWorker(sql: SqlClient, id: string): Promise<WorkerRecord | undefined> {
  const rows = await sql.query(`${WITH_USAGE} WHERE w.id = $1`, [id]);
  return rows[0] ? toWorker(rows[0]) : undefined;
}

export async function listWorkers(sql: SqlClient): Promise<WorkerRecord[]> {
  return (await sql.query(`${WITH_USAGE} ORDER BY w.name, w.created_at`)).map(toWorker);
}

/** Workers that may take new runs, with their current usage. */
export async function listDispatchable(sql: SqlClient): Promise<WorkerRecord[]> {
  return (await sql.query(`${WITH_USAGE} WHERE w.state = 'ACTIVE' AND NOT w.paused`)).map(toWorker);
}

/** Records a worker heartbeat; an INACTIVE worker that heartbeats again becomes ACTIVE. */
export async function recordHeartbeat(
  sql: SqlClient,
  id: string,
  beat: WorkerHeartbeat,
  now: number,
): Promise<WorkerRecord | undefined> {
  const rows = await sql.query(
    `UPDATE pw_workers SET last_heartbeat_at = $2, state = $3, reported_used = $4 WHERE id = $1 RETURNING *`,
    [id, now, beat.state, beat.slots?.used ?? null],
  );
  return rows[0] ? toWorker(rows[0]) : undefined;
}

export async function setPaused(sql: SqlClient, id: string, paused: boolean): Promise<boolean> {
  const rows = await sql.query('UPDATE pw_workers SET paused = $2 WHERE id = $1 RETURNING id', [id, paused]);
  return rows.length > 0;
}

export async function setWorkerState(
  sql: SqlClient,
  id: string,
  state: WorkerRecord['state'],
): Promise<void> {
  await sql.query('UPDATE pw_workers SET state = $2 WHERE id = $1', [id, state]);
}

/**
 * Push health: a failure (`failure` says why) starts the clock, kept if already running, and keeps the latest
 * reason; a success (`null`) clears both.
 */
export async function recordPushHealth(
  sql: SqlClient,
  id: string,
  failure: string | null,
  now: number,
): Promise<void> {
  if (failure === null) {
    await sql.query(
      `UPDATE pw_workers SET push_failing_since = NULL, push_error = NULL
       WHERE id = $1 AND push_failing_since IS NOT NULL`,
      [id],
    );
  } else {
    await sql.query(
      'UPDATE pw_workers SET push_failing_since = coalesce(push_failing_since, $2), push_error = $3 WHERE id = $1',
      [id, now, failure],
    );
  }
}

/** A worker that may go: not ACTIVE, and holding no run (an INACTIVE worker's runs went back to the queue). */
const REMOVABLE = `state IN ('INACTIVE', 'STOPPED')
  AND NOT EXISTS (SELECT 1 FROM pw_runs r WHERE r.worker_id = pw_workers.id AND r.state IN ('ASSIGNED', 'RUNNING'))`;

/** Removes one worker if it may go; says why not otherwise. */
export async function deleteWorker(sql: SqlClient, id: string): Promise<'deleted' | 'in_use' | 'unknown'> {
  const gone = await sql.query(`DELETE FROM pw_workers WHERE id = $1 AND ${REMOVABLE} RETURNING id`, [id]);
  if (gone.length > 0) return 'deleted';
  const left = await sql.query('SELECT 1 FROM pw_workers WHERE id = $1', [id]);
  return left.length > 0 ? 'in_use' : 'unknown';
}

/** Removes the workers that may go and have been silent (heartbeats, pushes) since before `cutoff`; how many. */
export async function expireWorkers(sql: SqlClient, cutoff: number): Promise<number> {
  const rows = await sql.query(
    `DELETE FROM pw_workers
     WHERE greatest(last_heartbeat_at, coalesce(push_failing_since, 0)) < $1 AND ${REMOVABLE}
     RETURNING id`,
    [cutoff],
  );
  return rows.length;
}

/** Marks INACTIVE the workers silent (or failing pushes) since before `cutoff`; returns their ids. */
export async function deactivateSilentWorkers(sql: SqlClient, cutoff: number): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    `UPDATE pw_workers SET state = 'INACTIVE'
     WHERE state <> 'INACTIVE'
       AND ((kind = 'registered' AND last_heartbeat_at < $1) OR push_failing_since < $1)
     RETURNING id`,
    [cutoff],
  );
  return rows.map((r) => r.id);
}
