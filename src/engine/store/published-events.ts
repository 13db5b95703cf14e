// Published events: stored once per id with the runs they enqueued (a run per listening task), listed and read.
import type { RunState } from '../../protocol/schemas.ts';
import { wakeWaitingRuns } from './durable-waits.ts';
import { json } from './records.ts';
import { insertRuns, type NewRun } from './runs.ts';
import type { Row, Sql, SqlClient } from './sql.ts';

export interface EventRecord {
  id: string;
  seq: number;
  name: string;
  key: string | null;
  payload: unknown;
  /** The runs it enqueued (or found by their keys), each with its task. */
  runs: { id: string; task: string }[];
  /** The workflow runs it enqueued, each with its workflow. */
  workflowRuns: { id: string; workflow: string }[];
  createdBy: string | null;
  createdAt: number;
}

export interface NewEvent {
  id: string;
  name: string;
  key?: string | undefined;
  payload?: unknown;
  createdBy: string | null;
}

export interface PublishedEvent {
  event: EventRecord;
  /** False when an event with this id was stored before: it is returned, and nothing was enqueued. */
  created: boolean;
}

function toEvent(row: Row): EventRecord {
  return {
    id: row.id as string,
    seq: Number(row.seq),
    name: row.name as string,
    key: (row.key as string | null) ?? null,
    payload: row.payload ?? null,
    runs: (row.runs as { id: string; task: string }[] | null) ?? [],
    workflowRuns: (row.workflow_runs as { id: string; workflow: string }[] | null) ?? [],
    createdBy: (row.created_by as string | null) ?? null,
    createdAt: Number(row.created_at),
  };
}

/** The idempotency key of the run an event enqueues for one task: one run per event and task, whoever publishes. */
export function eventRunKey(eventId: string, task: string): string {
  return `event:${eventId}:${task}`;
}

/** The tasks some known worker's manifest says run on the event `$1` (its `on:` lists the name). */
const LISTENING_TASKS = `SELECT DISTINCT t ->> 'name' AS task
  FROM pw_workers w, jsonb_array_elements(w.tasks) t
  WHERE t -> 'on' @> jsonb_build_array($1::text)
  ORDER BY 1`;

export async function listeningTasks(sql: SqlClient, name: string): Promise<string[]> {
  const rows = await sql.query<{ task: string }>(LISTENING_TASKS, [name]);
  return rows.map((r) => r.task);
}

/** The workflows some known worker declares to run on the event `$1`. */
const LISTENING_WORKFLOWS = `SELECT DISTINCT wf ->> 'name' AS workflow
  FROM pw_workers w, jsonb_array_elements(w.workflows) wf
  WHERE wf -> 'on' @> jsonb_build_array($1::text)
  ORDER BY 1`;

export async function listeningWorkflows(sql: SqlClient, name: string): Promise<string[]> {
  const rows = await sql.query<{ workflow: string }>(LISTENING_WORKFLOWS, [name]);
  return rows.map((r) => r.workflow);
}

/** The idempotency key of the workflow run an event enqueues for one workflow. */
export function eventWorkflowRunKey(eventId: string, workflow: string): string {
  return `event:${eventId}:workflow:${workflow}`;
}

export async function setEventWorkflowRuns(
  sql: SqlClient,
  id: string,
  workflowRuns: { id: string; workflow: string }[],
): Promise<EventRecord | undefined> {
  const rows = await sql.query('UPDATE pw_events SET workflow_runs = $2::jsonb WHERE id = $1 RETURNING *', [
    id,
    JSON.stringify(workflowRuns),
  ]);
  return rows[0] ? toEvent(rows[0]) : undefined;
}

const INSERT_EVENT = `INSERT INTO pw_events (id, name, key, payload, created_by, created_at)
  VALUES ($1, $2, $3, $4::json, $5, $6)
  ON CONFLICT (id) DO NOTHING
  RETURNING *`;

const SET_EVENT_RUNS = 'UPDATE pw_events SET runs = $2::jsonb WHERE id = $1 RETURNING *';

/**
 * Stores the event, enqueues `runs` (the listeners' runs, each keyed by `eventRunKey`) and wakes the durable runs
 * waiting for it, in one transaction: a wait is woken once, by the first publish of an id.
 * An id stored before returns that event and does nothing else;
 * two publishers of one id at once wait on the first's insert, and the second finds it.
 */
export async function publishEvent(
  sql: Sql,
  event: NewEvent,
  runs: NewRun[],
  now: number,
): Promise<PublishedEvent & { enqueued: number; woken: number }> {
  return sql.transaction(async (tx) => {
    const inserted = await tx.query(INSERT_EVENT, [
      event.id,
      event.name,
      event.key ?? null,
      json(event.payload ?? null),
      event.createdBy,
      now,
    ]);
    if (!inserted[0]) {
      const [prior] = await tx.query('SELECT * FROM pw_events WHERE id = $1', [event.id]);
      if (!prior) throw new Error(`event ${event.id} was neither inserted nor found`);
      return { event: toEvent(prior), created: false, enqueued: 0, woken: 0 };
    }
    const results = runs.length > 0 ? await insertRuns(tx, runs, now) : [];
    const [row] = await tx.query(SET_EVENT_RUNS, [
      event.id,
      json(results.map((r) => ({ id: r.run.id, task: r.run.task }))),
    ]);
    const received = {
      id: event.id,
      name: event.name,
      key: event.key ?? null,
      payload: event.payload ?? null,
    };
    const woken = await wakeWaitingRuns(tx, received, now);
    const enqueued = results.filter((r) => r.created).length;
    return { event: toEvent(row!), created: true, enqueued, woken: woken.length };
  });
}

export async function getEvent(sql: SqlClient, id: string): Promise<EventRecord | undefined> {
  const rows = await sql.query('SELECT * FROM pw_events WHERE id = $1', [id]);
  return rows[0] ? toEvent(rows[0]) : undefined;
}

export interface EventFilter {
  name?: string | undefined;
  key?: string | undefined;
  limit: number;
  /** Only events published before the event with this sequence number (the previous page's last). */
  beforeSeq?: number | undefined;
}

/* One statement per filter shape, each newest first through the index that holds its filter. $1 the page size, $2 the
 * sequence number the page ends before, then the name or the key, and the key. */
const LIST_EVENTS = 'SELECT * FROM pw_events WHERE seq < $2::bigint ORDER BY seq DESC LIMIT $1';
const LIST_EVENTS_NAMED =
  'SELECT * FROM pw_events WHERE name = $3 AND seq < $2::bigint ORDER BY seq DESC LIMIT $1';
const LIST_EVENTS_WITH_KEY =
  'SELECT * FROM pw_events WHERE key = $3 AND seq < $2::bigint ORDER BY seq DESC LIMIT $1';
const LIST_EVENTS_NAMED_WITH_KEY =
  'SELECT * FROM pw_events WHERE name = $3 AND key = $4 AND seq < $2::bigint ORDER BY seq DESC LIMIT $1';

/** Past every sequence number: the first page. */
const FIRST_PAGE = '9223372036854775807';

/** Events newest first. */
export async function listEvents(sql: SqlClient, f: EventFilter): Promise<EventRecord[]> {
  const page = [f.limit, f.beforeSeq === undefined ? FIRST_PAGE : String(f.beforeSeq)];
  const rows =
    f.name !== undefined && f.key !== undefined
      ? await sql.query(LIST_EVENTS_NAMED_WITH_KEY, [...page, f.name, f.key])
      : f.name !== undefined
        ? await sql.query(LIST_EVENTS_NAMED, [...page, f.name])
        : f.key !== undefined
          ? await sql.query(LIST_EVENTS_WITH_KEY, [...page, f.key])
          : await sql.query(LIST_EVENTS, page);
  return rows.map(toEvent);
}

/** The state of each run still stored (retention deletes finished ones), by id. */
export async function runStatesOf(sql: SqlClient, ids: string[]): Promise<Map<string, RunState>> {
  if (ids.length === 0) return new Map();
  const rows = await sql.query<{ id: string; state: RunState }>(
    'SELECT id, state FROM pw_runs WHERE id = ANY($1::text[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.state]));
}
