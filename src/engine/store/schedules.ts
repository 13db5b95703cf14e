// Cron schedule rows: create, read, pause, delete; code schedules from manifests; the due ones, locked to fire.
import { createHash } from 'node:crypto';
import { DEFAULT_TIME_ZONE } from '../../protocol/cron.ts';
import { DEFAULT_BACKFILL_LIMIT, type MissedTicks, type ScheduleSource } from '../../protocol/schedules.ts';
import type { TaskManifest } from '../../protocol/schemas.ts';
import { json } from './records.ts';
import type { Row, SqlClient } from './sql.ts';

export interface ScheduleRecord {
  name: string;
  task: string;
  input: unknown;
  metadata: Record<string, unknown> | null;
  cron: string;
  timezone: string;
  missed: MissedTicks;
  backfillLimit: number;
  paused: boolean;
  source: ScheduleSource;
  lastTickAt: number | null;
  nextTickAt: number | null;
  createdAt: number;
}

/** A schedule to store; `nextTickAt` is its first tick (computed by the caller, which knows cron). */
export type NewSchedule = Omit<ScheduleRecord, 'lastTickAt' | 'createdAt'>;

function toSchedule(row: Row): ScheduleRecord {
  return {
    name: row.name as string,
    task: row.task as string,
    input: row.input ?? null,
    metadata: (row.metadata as Record<string, unknown> | null) ?? null,
    cron: row.cron as string,
    timezone: row.timezone as string,
    missed: row.missed as MissedTicks,
    backfillLimit: row.backfill_limit as number,
    paused: row.paused as boolean,
    source: row.source as ScheduleSource,
    lastTickAt: (row.last_tick_at as number | null) ?? null,
    nextTickAt: (row.next_tick_at as number | null) ?? null,
    createdAt: row.created_at as number,
  };
}

/**
 * The name of a schedule a task declares: the task and a digest of its expression and time zone, so that it stays
 * the same across registrations and every worker serving the task names it alike.
 */
export function codeScheduleName(task: string, cron: string, timezone: string): string {
  const digest = createHash('sha256').update(`${cron}\n${timezone}`).digest('hex').slice(0, 10);
  return `${task}:cron-${digest}`;
}

/** Stores a new schedule; `duplicate` when one of that name exists. */
export async function insertSchedule(
  sql: SqlClient,
  s: NewSchedule,
  now: number,
): Promise<ScheduleRecord | 'duplicate'> {
  const rows = await sql.query(
    `INSERT INTO pw_schedules (name, task, input, metadata, cron, timezone, missed, backfill_limit, paused, source,
       next_tick_at, created_at)
     VALUES ($1, $2, $3::json, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (name) DO NOTHING
     RETURNING *`,
    [
      s.name,
      s.task,
      json(s.input),
      json(s.metadata ?? undefined),
      s.cron,
      s.timezone,
      s.missed,
      s.backfillLimit,
      s.paused,
      s.source,
      s.nextTickAt,
      now,
    ],
  );
  return rows[0] ? toSchedule(rows[0]) : 'duplicate';
}

export async function getSchedule(sql: SqlClient, name: string): Promise<ScheduleRecord | undefined> {
  const rows = await sql.query('SELECT * FROM pw_schedules WHERE name = $1', [name]);
  return rows[0] ? toSchedule(rows[0]) : undefined;
}

export async function listSchedules(sql: SqlClient): Promise<ScheduleRecord[]> {
  return (await sql.query('SELECT * FROM pw_schedules ORDER BY name')).map(toSchedule);
}

/**
 * Pauses a schedule (it has no next tick while paused), or resumes one at `nextTickAt`; a schedule already in the
 * asked state keeps its ticks. Undefined when there is no such schedule.
 */
export async function setSchedulePaused(
  sql: SqlClient,
  name: string,
  paused: boolean,
  nextTickAt: (s: ScheduleRecord) => number | null,
): Promise<ScheduleRecord | undefined> {
  const rows = await sql.query('SELECT * FROM pw_schedules WHERE name = $1', [name]);
  if (!rows[0]) return undefined;
  const before = toSchedule(rows[0]);
  if (before.paused === paused) return before;
  const updated = await sql.query(
    `UPDATE pw_schedules SET paused = $2, next_tick_at = $3 WHERE name = $1 AND paused <> $2 RETURNING *`,
    [name, paused, paused ? null : nextTickAt(before)],
  );
  return updated[0] ? toSchedule(updated[0]) : getSchedule(sql, name);
}

/** Removes an API schedule; a code schedule stays while a worker declares it (`code`). */
export async function deleteSchedule(sql: SqlClient, name: string): Promise<'deleted' | 'code' | 'unknown'> {
  const gone = await sql.query(`DELETE FROM pw_schedules WHERE name = $1 AND source = 'api' RETURNING name`, [
    name,
  ]);
  if (gone.length > 0) return 'deleted';
  return (await getSchedule(sql, name)) ? 'code' : 'unknown';
}

/**
 * Stores the schedules the given tasks declare, as code schedules: a new one starts at its first tick (`firstTick`),
 * one already stored takes the declared input and keeps its ticks and its paused flag. An API schedule that has the
 * name is left as it is.
 */
export async function upsertCodeSchedules(
  sql: SqlClient,
  tasks: TaskManifest[],
  firstTick: (cron: string, timezone: string) => number | null,
  now: number,
): Promise<number> {
  const records = tasks.flatMap((t) =>
    (t.cron ?? []).map((cron) => {
      const timezone = t.cronTimezone ?? DEFAULT_TIME_ZONE;
      return {
        name: codeScheduleName(t.name, cron, timezone),
        task: t.name,
        input: t.cronInput ?? null,
        cron,
        timezone,
        next_tick_at: firstTick(cron, timezone),
      };
    }),
  );
  if (records.length === 0) return 0;
  const rows = await sql.query(
    `INSERT INTO pw_schedules (name, task, input, cron, timezone, missed, backfill_limit, source, next_tick_at,
       created_at)
     SELECT DISTINCT ON (x.name) x.name, x.task, x.input, x.cron, x.timezone, 'latest', $2, 'code', x.next_tick_at, $3
     FROM json_to_recordset($1::json) AS x(name text, task text, input json, cron text, timezone text,
       next_tick_at double precision)
     ON CONFLICT (name) DO UPDATE SET input = excluded.input WHERE pw_schedules.source = 'code'
     RETURNING name`,
    [JSON.stringify(records), DEFAULT_BACKFILL_LIMIT, now],
  );
  return rows.length;
}

/**
 * Removes the code schedules that no stored worker declares any more. Every worker row counts, INACTIVE and STOPPED
 * ones too, until it expires or is removed: a schedule goes once the last worker declaring it is gone, and a
 * rolling deploy that adds or drops an expression never loses a schedule that other workers still declare.
 */
export async function removeUndeclaredCodeSchedules(sql: SqlClient): Promise<string[]> {
  const rows = await sql.query<{ name: string }>(
    `DELETE FROM pw_schedules s
     WHERE s.source = 'code' AND NOT EXISTS (
       SELECT 1 FROM pw_workers w, jsonb_array_elements(w.tasks) t, jsonb_array_elements_text(t->'cron') e
       WHERE t->>'name' = s.task AND e = s.cron AND coalesce(t->>'cronTimezone', $1) = s.timezone)
     RETURNING s.name`,
    [DEFAULT_TIME_ZONE],
  );
  return rows.map((r) => r.name);
}

/**
 * The unpaused schedules due at `now`, locked for this transaction; rows another engine is firing are skipped,
 * so that each tick is fired by one engine.
 */
export async function lockDueSchedules(
  sql: SqlClient,
  now: number,
  limit: number,
): Promise<ScheduleRecord[]> {
  const rows = await sql.query(
    `SELECT * FROM pw_schedules WHERE NOT paused AND next_tick_at <= $1
     ORDER BY next_tick_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
  return rows.map(toSchedule);
}

export interface ScheduleAdvance {
  name: string;
  lastTickAt: number | null;
  nextTickAt: number | null;
}

/** Records the ticks fired and the next ones due (same bulk-update shape as sql.ts describes). */
export async function advanceSchedules(sql: SqlClient, advances: ScheduleAdvance[]): Promise<void> {
  if (advances.length === 0) return;
  await sql.query(
    `UPDATE pw_schedules s SET last_tick_at = coalesce(x.last_tick_at, s.last_tick_at), next_tick_at = x.next_tick_at
     FROM json_to_recordset($1::json) AS x(name text, last_tick_at double precision, next_tick_at double precision)
     WHERE s.name = x.name AND s.name = ANY($2::text[])`,
    [
      JSON.stringify(
        advances.map((a) => ({ name: a.name, last_tick_at: a.lastTickAt, next_tick_at: a.nextTickAt })),
      ),
      advances.map((a) => a.name),
    ],
  );
}

/** When the earliest unpaused schedule is due, if any is. */
export async function nextDueTick(sql: SqlClient): Promise<number | null> {
  const rows = await sql.query<{ at: number | null }>(
    'SELECT min(next_tick_at) AS at FROM pw_schedules WHERE NOT paused',
  );
  return rows[0]?.at ?? null;
}
