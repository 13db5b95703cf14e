// Store records rendered as API views.
import type { AttemptView, RunDetailView, RunLogLineView, RunView, WorkerView } from '../../protocol/api.ts';
import type { AttemptRecord } from '../store/attempts.ts';
import { deadReasonOf } from '../store/dead.ts';
import type { RunRecord, WorkerRecord } from '../store/records.ts';
import { visibleState } from '../store/records.ts';
import type { RunLogRecord } from '../store/run-logs.ts';

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A rate limit that holds a queued run back, and when the window without room ends. */
export interface RateLimited {
  key: string;
  until: number;
}

/** What holds a due queued run back, when the engine can tell (see queued-holds.ts). */
export interface QueuedHold {
  /** No ACTIVE worker serves its task. */
  unserved?: boolean;
  /** A rate limit has no room for it. */
  limited?: RateLimited | undefined;
  /** Its concurrency key has `limit` runs assigned or running. */
  concurrency?: { key: string; limit: number; running: number };
}

/** A run; a queued one says what it waits for, from its record (a delay, a back-off) or from its `hold`. */
export function runView(run: RunRecord, hold: QueuedHold = {}, now = Date.now()): RunView {
  return {
    id: run.id,
    task: run.task,
    state: run.state,
    attempt: run.attempt,
    failures: run.failures,
    priority: run.priority,
    input: run.input,
    ...(run.state === 'COMPLETED' ? { output: run.output } : {}),
    ...(run.error && run.state !== 'COMPLETED' ? { error: run.error } : {}),
    workerId: run.workerId,
    idempotencyKey: run.idempotencyKey,
    createdAt: iso(run.createdAt)!,
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    ...(run.state === 'QUEUED' ? waitingFor(run, hold, now) : {}),
    ...(run.state === 'QUEUED' && run.availableAt > now ? { dueAt: iso(run.availableAt)! } : {}),
    ...(run.expiresAt !== null && (run.state === 'QUEUED' || run.state === 'FAILED')
      ? { expiresAt: iso(run.expiresAt)! }
      : {}),
    ...(run.state === 'FAILED' ? { dead: deadReasonOf(run) } : {}),
    ...(run.workflowRunId ? { workflowRunId: run.workflowRunId } : {}),
    ...(run.parentRunId ? { parentRunId: run.parentRunId } : {}),
    ...(run.metadata ? { metadata: run.metadata } : {}),
  };
}

/** A run not yet tried that is not due is delayed; one tried before waits out a retry back-off. */
function waitingFor(run: RunRecord, hold: QueuedHold, now: number): { waitingFor?: string } {
  if (run.availableAt > now && run.waiting) {
    const until = iso(run.availableAt);
    const { entry, event, child } = run.waiting;
    if (child) return { waitingFor: `its child run ${child} to end (wait "${entry}" times out at ${until})` };
    return {
      waitingFor: event
        ? `the event ${event} (wait "${entry}" times out at ${until})`
        : `the end of its sleep "${entry}" at ${until}`,
    };
  }
  if (run.availableAt > now) {
    const until = iso(run.availableAt);
    return { waitingFor: run.attempt === 0 ? `not due until ${until}` : `a retry back-off until ${until}` };
  }
  if (hold.unserved) return { waitingFor: 'a worker that serves this task (none is ACTIVE)' };
  if (hold.limited)
    return { waitingFor: `rate limited on ${hold.limited.key} until ${iso(hold.limited.until)}` };
  const full = hold.concurrency;
  if (full) {
    return {
      waitingFor: `a place under concurrency key ${full.key} (${full.running} of ${full.limit} in use)`,
    };
  }
  return {};
}

export function attemptView(a: AttemptRecord): AttemptView {
  return {
    attempt: a.attempt,
    workerId: a.workerId,
    assignedAt: iso(a.assignedAt),
    startedAt: iso(a.startedAt),
    endedAt: iso(a.endedAt)!,
    outcome: a.outcome,
    error: a.error,
  };
}

export function runDetailView(
  run: RunRecord,
  attempts: AttemptRecord[],
  hold: QueuedHold = {},
): RunDetailView {
  return {
    ...runView(run, hold),
    attempts: attempts.map(attemptView),
    ...(run.journal ? { journal: run.journal } : {}),
  };
}

export function workerView(worker: WorkerRecord): WorkerView {
  return {
    id: worker.id,
    name: worker.name,
    url: worker.url,
    kind: worker.kind,
    state: visibleState(worker),
    slots: { total: worker.slots, used: worker.used },
    labels: worker.labels,
    tasks: worker.tasks,
    lastHeartbeatAt: iso(worker.lastHeartbeatAt)!,
    ...(worker.pushFailingSince === null
      ? {}
      : { pushFailing: { since: iso(worker.pushFailingSince)!, reason: worker.pushError ?? 'unknown' } }),
  };
}

export function runLogLineView(l: RunLogRecord): RunLogLineView {
  return {
    attempt: l.attempt,
    seq: l.seq,
    at: iso(l.at)!,
    level: l.level,
    message: l.message,
    ...(l.fields === null ? {} : { fields: l.fields }),
  };
}
