// Worker events applied in bulk: one read and one write for any number of events from many requests.
import { PushworkerError } from '../../protocol/errors.ts';
import {
  entryBytes,
  JOURNAL_TOO_LARGE,
  type Journal,
  jsonBytes,
  MAX_JOURNAL_BYTES,
  MAX_SUSPEND_MS,
} from '../../protocol/journal.ts';
import type { EventResult, RunEvent } from '../../protocol/schemas.ts';
import { type RunRecord, toRun, type Waiting } from './records.ts';
import { failedAttempt, type RetryPolicy } from './retry.ts';
import { insertRunLogs, type RunLogRecord } from './run-logs.ts';
import type { Sql } from './sql.ts';

/** The events of one request, posted with one worker's token. */
export interface EventPost {
  workerName: string;
  events: RunEvent[];
}

/** Per post: a result per event, or the error that refused the whole post (nothing of it applied). */
export type PostOutcome = { results: EventResult[] } | { error: PushworkerError };

/** What one batch of posts did: the answer to each post, and the effects the engine publishes. */
export interface AppliedPosts {
  posts: PostOutcome[];
  /** Runs that reached a terminal state. */
  finished: string[];
  /** The workflow runs of the finished runs that are workflow tasks: each is to advance. */
  workflowRuns: Set<string>;
  /** Slot-units freed per worker id (a wake-up for the dispatcher). */
  freed: Map<string, number>;
  /** Task log lines of current attempts, stored with the batch. */
  logs: RunLogRecord[];
  /** Runs their worker ended now: each one's task, and how long its last attempt ran. */
  ranFor: { task: string; ms: number }[];
  /** Reads repeated because a run changed between the read and the write. */
  rereads: number;
  /**
   * A failed attempt went back to the queue, or a run with a concurrency key ended and left a place under its
   * limit: queued runs the dispatcher could not take before may be claimable now (a wake-up).
   */
  unblocks: boolean;
  /** Child runs that runs suspended on now: any may have ended already, before its parent's suspension. */
  childWaits: string[];
}

export interface EventOptions {
  now: number;
  leaseMs: number;
  retry: RetryPolicy;
}

/** The columns events read and change; inputs, outputs and labels are never read back. */
const COLUMNS = `r.id, r.task, r.state, r.attempt, r.worker_id, r.slot_cost, r.slot_released, r.ended_by_worker,
  r.failures, r.retries, r.timeout_ms, r.available_at, r.lease_expires_at, r.deadline_at, r.created_at, r.assigned_at,
  r.started_at, r.finished_at, r.concurrency_key, r.workflow_run_id`;

type Working = Pick<
  RunRecord,
  | 'id'
  | 'task'
  | 'state'
  | 'attempt'
  | 'workerId'
  | 'slotCost'
  | 'slotReleased'
  | 'endedByWorker'
  | 'failures'
  | 'retries'
  | 'timeoutMs'
  | 'availableAt'
  | 'leaseExpiresAt'
  | 'deadlineAt'
  | 'createdAt'
  | 'assignedAt'
  | 'startedAt'
  | 'finishedAt'
  | 'concurrencyKey'
  | 'workflowRunId'
> & {
  workerName: string | null;
  /** The row version read (`xmin`): the write goes ahead only while every changed row still has it. */
  version: string;
  dirty: boolean;
  /** Set by a terminal event: written, while other events leave the stored output and error alone. */
  result?: { output: unknown; error: RunRecord['error'] };
  /** Journal entries this batch adds (an entry recorded before is kept: a step's result is recorded once). */
  journalAdd?: Journal;
  /** Set by a suspension: what the run now waits for, and its deliveries start again from none. */
  suspended?: Waiting;
  /** Read for a run with `step` events: its journal's size as JSON, and which of their names it holds already. */
  journalBytes?: number;
  journalHas?: ReadonlySet<string>;
};

/** Optimistic tries before a batch locks its runs instead. */
const OPTIMISTIC_TRIES = 3;

/**
 * Applies the posts as one atomic write; a post about a run owned by another worker is refused with `forbidden`.
 *
 * The runs are read without locks, the events applied to them here, and the changed runs written in one
 * statement that writes all of them or, when any changed since it was read, none. Nothing holds the database
 * between the two statements. On the embedded store that matters most: a transaction there holds its one
 * connection, and claims and enqueues would wait while this thread works between statements. A batch that keeps
 * meeting concurrent changes locks its runs in a transaction instead, which cannot fail that way.
 */
export async function applyEventPosts(sql: Sql, posts: EventPost[], o: EventOptions): Promise<AppliedPosts> {
  // Sorted ids lock rows in one order, so concurrent batches cannot deadlock on each other.
  const ids = [...new Set(posts.flatMap((p) => p.events.map((e) => e.runId)))].sort();
  for (let i = 0; i < OPTIMISTIC_TRIES; i++) {
    const out = await applyOnce(sql, posts, ids, o, false);
    if (out) return { ...out, rereads: i };
  }
  return sql.transaction(async (tx) => {
    const out = await applyOnce(tx, posts, ids, o, true);
    if (!out) throw new Error('runs changed while their rows were locked');
    return { ...out, rereads: OPTIMISTIC_TRIES };
  });
}

/**
 * Of the runs with `step` events, $2 (run id to its steps' names): the stored journal's size, as its text (which
 * counts a space after each colon and comma that the JSON a push carries has not), and the names it holds.
 */
const JOURNAL_COLUMNS = `CASE WHEN $2::jsonb ? r.id THEN coalesce(octet_length(r.journal::text), 2) END AS journal_bytes,
  CASE WHEN $2::jsonb ? r.id THEN (SELECT coalesce(jsonb_agg(n), '[]'::jsonb)
    FROM jsonb_array_elements_text($2::jsonb -> r.id) AS n WHERE r.journal ? n) END AS journal_has`;

/** The runs an event batch changes, with each row's version, for the optimistic write. */
const READ_RUNS = `SELECT ${COLUMNS}, ${JOURNAL_COLUMNS}, r.xmin::text AS version, w.name AS worker_name
  FROM pw_runs r LEFT JOIN pw_workers w ON w.id = r.worker_id
  WHERE r.id = ANY($1::text[])`;

/** The same runs locked, in id order so that two batches lock shared runs in one order, once reads kept failing. */
const READ_RUNS_LOCKED = `SELECT ${COLUMNS}, ${JOURNAL_COLUMNS}, r.xmin::text AS version, w.name AS worker_name
  FROM pw_runs r LEFT JOIN pw_workers w ON w.id = r.worker_id
  WHERE r.id = ANY($1::text[]) ORDER BY r.id FOR UPDATE OF r`;

/** The journals of the runs $1, read only when their stored text says a step may not fit. */
const READ_JOURNALS = `SELECT id, journal FROM pw_runs WHERE id = ANY($1::text[])`;

/** Undefined when a run changed between the read and the write, and nothing was written. */
async function applyOnce(
  client: Pick<Sql, 'query'>,
  posts: EventPost[],
  ids: string[],
  o: EventOptions,
  lock: boolean,
): Promise<AppliedPosts | undefined> {
  const steps = stepNames(posts);
  const rows = await client.query(lock ? READ_RUNS_LOCKED : READ_RUNS, [ids, JSON.stringify(steps)]);
  const runs = new Map<string, Working>(
    rows.map((row) => {
      const { journalBytes, journalHas, ...run } = toRun(row) as RunRecord & {
        journalBytes: number | null;
        journalHas: string[] | null;
      };
      return [
        run.id,
        {
          ...run,
          workerName: row.worker_name as string | null,
          version: row.version as string,
          dirty: false,
          ...(journalBytes === null ? {} : { journalBytes, journalHas: new Set(journalHas) }),
        },
      ];
    }),
  );
  await measureCloseJournals(client, runs, posts);
  const out: AppliedPosts = {
    posts: [],
    finished: [],
    workflowRuns: new Set(),
    freed: new Map(),
    logs: [],
    ranFor: [],
    rereads: 0,
    unblocks: false,
    childWaits: [],
  };
  for (const post of posts) {
    const intruded = post.events.find((e) => {
      const run = runs.get(e.runId);
      return run && run.attempt === e.attempt && run.workerName !== post.workerName;
    });
    if (intruded) {
      out.posts.push({
        error: new PushworkerError(
          'forbidden',
          `run ${intruded.runId} is not assigned to worker "${post.workerName}"`,
        ),
      });
      continue;
    }
    out.posts.push({ results: post.events.map((e) => applyEvent(runs.get(e.runId), e, o, out)) });
  }
  if (out.logs.length > 0) await insertRunLogs(client, out.logs);
  const changed = [...runs.values()].filter((r) => r.dirty);
  if (changed.length > 0 && !(await writeRuns(client, changed))) return undefined;
  return out;
}

function applyEvent(run: Working | undefined, e: RunEvent, o: EventOptions, out: AppliedPosts): EventResult {
  if (!run || e.attempt !== run.attempt) return 'stale';
  if (run.state !== 'ASSIGNED' && run.state !== 'RUNNING') return run.endedByWorker ? 'ok' : 'stale';
  // A line changes nothing of its run: it is stored beside it, and the run's row is left alone.
  if (e.type === 'log') {
    const { runId, attempt, seq, level, message, fields } = e;
    out.logs.push({ runId, attempt, seq, at: eventTime(e, o.now), level, message, fields: fields ?? null });
    return 'ok';
  }
  run.dirty = true;
  const lease = o.now + o.leaseMs;
  const free = () => {
    if (run.slotReleased) return;
    out.freed.set(run.workerId!, (out.freed.get(run.workerId!) ?? 0) + (run.slotCost ?? 1));
  };
  switch (e.type) {
    case 'started':
    case 'heartbeat':
      run.startedAt ??= startTime(run, e, o.now);
      run.state = 'RUNNING';
      run.leaseExpiresAt = lease;
      run.deadlineAt ??= run.timeoutMs === null ? null : o.now + run.timeoutMs;
      return 'ok';
    case 'slot_released':
      free();
      run.slotReleased = true;
      run.leaseExpiresAt = lease;
      return 'ok';
    case 'timeout_refreshed':
      run.deadlineAt =
        (run.deadlineAt ?? (run.timeoutMs === null ? o.now : o.now + run.timeoutMs)) + e.incrementMs;
      run.leaseExpiresAt = lease;
      return 'ok';
    case 'completed':
      free();
      Object.assign(run, {
        state: 'COMPLETED',
        result: { output: e.output ?? null, error: null },
        finishedAt: o.now,
        endedByWorker: true,
        leaseExpiresAt: null,
        deadlineAt: null,
      });
      ended(run, out);
      if (run.concurrencyKey !== null) out.unblocks = true;
      return 'ok';
    case 'step': {
      run.leaseExpiresAt = lease;
      if (run.journalHas?.has(e.name) || run.journalAdd?.[e.name]) return 'ok';
      const entry = { kind: 'step' as const, output: e.output ?? null };
      const grown = (run.journalBytes ?? 2) + entryBytes(e.name, entry);
      if (grown > MAX_JOURNAL_BYTES) {
        // Recorded, the journal would make the run's next assignment too large to deliver: it fails here instead,
        // and the worker, answered `stale`, stops it.
        free();
        Object.assign(run, {
          state: 'FAILED',
          result: {
            output: null,
            error: {
              message: `step "${e.name}" would grow the run's journal to ${grown} bytes, over its limit of ${MAX_JOURNAL_BYTES}`,
              name: JOURNAL_TOO_LARGE,
              retryable: false,
            },
          },
          finishedAt: o.now,
          endedByWorker: false,
          leaseExpiresAt: null,
          deadlineAt: null,
        });
        ended(run, out);
        if (run.concurrencyKey !== null) out.unblocks = true;
        return 'stale';
      }
      run.journalBytes = grown;
      run.journalAdd ??= {};
      run.journalAdd[e.name] = entry;
      return 'ok';
    }
    case 'suspended': {
      free();
      const { entry, until, event, child } = e.suspension;
      const due = Math.min(Math.max(Date.parse(until), o.now), o.now + MAX_SUSPEND_MS);
      const dueAt = new Date(due).toISOString();
      run.journalAdd ??= {};
      if (child) {
        run.journalAdd[entry] = { kind: 'child', runId: child.runId, until: dueAt };
        run.suspended = { entry, until: due, child: child.runId };
        out.childWaits.push(child.runId);
      } else if (event) {
        run.journalAdd[entry] = { kind: 'wait', event: event.name, until: dueAt };
        run.suspended = { entry, until: due, event: event.name, filter: event.filter };
      } else {
        run.journalAdd[entry] = { kind: 'sleep', until: dueAt };
        run.suspended = { entry, until: due };
      }
      Object.assign(run, {
        state: 'QUEUED',
        availableAt: due,
        endedByWorker: false,
        leaseExpiresAt: null,
        deadlineAt: null,
      });
      // Its slots, and its place under a concurrency limit, are free.
      out.unblocks = true;
      return 'ok';
    }
    case 'failed': {
      free();
      const { final, ...failed } = failedAttempt(run, e.error, o.now, o.retry);
      Object.assign(run, {
        ...failed,
        result: { output: null, error: e.error },
        endedByWorker: true,
        leaseExpiresAt: null,
        deadlineAt: null,
      });
      if (final) ended(run, out);
      if (!final || run.concurrencyKey !== null) out.unblocks = true;
      return 'ok';
    }
  }
}

/** The names of the `step` events of the posts, by run. */
function stepNames(posts: EventPost[]): Record<string, string[]> {
  const byRun: Record<string, string[]> = {};
  for (const e of posts.flatMap((p) => p.events)) {
    if (e.type === 'step') byRun[e.runId] = [...(byRun[e.runId] ?? []), e.name];
  }
  return byRun;
}

/**
 * The stored text of a journal counts more than the JSON a push carries: where it says the posts' steps may not
 * fit, the journal is read and measured as that JSON, so that the engine refuses a step exactly where a worker does.
 */
async function measureCloseJournals(
  client: Pick<Sql, 'query'>,
  runs: Map<string, Working>,
  posts: EventPost[],
): Promise<void> {
  const added = new Map<string, number>();
  for (const e of posts.flatMap((p) => p.events)) {
    if (e.type !== 'step') continue;
    const entry = { kind: 'step' as const, output: e.output ?? null };
    added.set(e.runId, (added.get(e.runId) ?? 0) + entryBytes(e.name, entry));
  }
  const close = [...added].flatMap(([id, bytes]) => {
    const run = runs.get(id);
    return run?.journalBytes !== undefined && run.journalBytes + bytes > MAX_JOURNAL_BYTES ? [id] : [];
  });
  if (close.length === 0) return;
  for (const row of await client.query(READ_JOURNALS, [close])) {
    const run = runs.get(row.id as string);
    if (run) run.journalBytes = jsonBytes(row.journal ?? {});
  }
}

/** A run its worker ended for good; a run with no start (a sync answer without events) counts from its assignment. */
function ended(run: Working, out: AppliedPosts): void {
  out.finished.push(run.id);
  if (run.workflowRunId) out.workflowRuns.add(run.workflowRunId);
  const from = run.startedAt ?? run.assignedAt;
  if (from !== null && run.finishedAt !== null)
    out.ranFor.push({ task: run.task, ms: run.finishedAt - from });
}

/**
 * When the attempt started: the worker's own time of the event (its report may arrive a while later), kept
 * between the assignment and now so that a worker's skewed clock cannot put a start outside the attempt.
 */
function startTime(run: Working, e: RunEvent, now: number): number {
  return Math.min(now, Math.max(run.assignedAt ?? run.createdAt, eventTime(e, now)));
}

/** The worker's time of an event, or its arrival when that does not parse. */
function eventTime(e: RunEvent, now: number): number {
  const at = Date.parse(e.at);
  return Number.isNaN(at) ? now : at;
}

/** Writes every run, or none when any of them is no longer the version read; true when written. */
async function writeRuns(client: Pick<Sql, 'query'>, runs: Working[]): Promise<boolean> {
  const records = runs.map((r) => ({
    id: r.id,
    version: r.version,
    state: r.state,
    failures: r.failures,
    set_result: r.result !== undefined,
    output: r.result?.output ?? null,
    error: r.result?.error ?? null,
    slot_released: r.slotReleased,
    ended_by_worker: r.endedByWorker,
    available_at: r.availableAt,
    lease_expires_at: r.leaseExpiresAt,
    deadline_at: r.deadlineAt,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    journal_add: r.journalAdd ?? null,
    suspended: r.suspended !== undefined,
    waiting: r.suspended ?? null,
  }));
  // Every update of a row gives it a new `xmin`. The rows still at the version read are locked first, and the
  // update runs only when that is all of them: on Postgres a row another transaction changes meanwhile is
  // re-read under the lock and drops out. On `id = ANY` beside the recordset join, see "Bulk updates by id" in
  // sql.ts. `json`, not `jsonb`, keeps an output's keys in the order the task gave them.
  const written = await client.query(
    `WITH x AS (
       SELECT * FROM json_to_recordset($1::json) AS x(id text, version text, state text, failures int,
         set_result boolean, output json, error jsonb, slot_released boolean, ended_by_worker boolean,
         available_at float8, lease_expires_at float8, deadline_at float8, started_at float8, finished_at float8,
         journal_add jsonb, suspended boolean, waiting jsonb)
     ), current AS MATERIALIZED (
       SELECT r.id FROM pw_runs r JOIN x ON x.id = r.id
       WHERE r.id = ANY($2::text[]) AND r.xmin = x.version::xid ORDER BY r.id FOR UPDATE OF r
     ), unchanged AS (SELECT count(*) = $3 AS ok FROM current)
     UPDATE pw_runs r SET state = x.state, failures = x.failures,
       output = CASE WHEN x.set_result THEN x.output ELSE r.output END,
       error = CASE WHEN x.set_result THEN x.error ELSE r.error END,
       slot_released = x.slot_released, ended_by_worker = x.ended_by_worker, available_at = x.available_at,
       lease_expires_at = x.lease_expires_at, deadline_at = x.deadline_at, started_at = x.started_at,
       finished_at = x.finished_at,
       journal = CASE WHEN x.journal_add IS NULL THEN r.journal ELSE x.journal_add || coalesce(r.journal, '{}') END,
       waiting = CASE WHEN x.suspended THEN x.waiting ELSE r.waiting END,
       deliveries = CASE WHEN x.suspended THEN 0 ELSE r.deliveries END
     FROM x, unchanged WHERE unchanged.ok AND r.id = x.id AND r.id = ANY($2::text[])
     RETURNING r.id`,
    [JSON.stringify(records), records.map((r) => r.id), records.length],
  );
  return written.length === records.length;
}
