// Store records rendered as API views.
import type { AttemptView, RunDetailView, RunView, WorkerView } from '../../protocol/api.ts';
import type { AttemptRecord } from '../store/attempts.ts';
import { deadReasonOf } from '../store/dead.ts';
import type { RunRecord, WorkerRecord } from '../store/records.ts';
import { visibleState } from '../store/records.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A rate limit that holds a queued run back, and when the window without room ends. */
export interface RateLimited {
  key: string;
  until: number;
}

/**
 * A run; `unserved` when no ACTIVE worker serves its task, `limited` when a rate limit holds it back, so a queued
 * run says what it waits for.
 */
export function runView(run: RunRecord, unserved = false, now = Date.now(), limited?: RateLimited): RunView {
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
    ...(run.state === 'QUEUED' ? waitingFor(run, unserved, now, limited) : {}),
    ...(run.state === 'QUEUED' && run.availableAt > now ? { dueAt: iso(run.availableAt)! } : {}),
    ...(run.expiresAt !== null && (run.state === 'QUEUED' || run.state === 'FAILED')
      ? { expiresAt: iso(run.expiresAt)! }
      : {}),
    ...(run.state === 'FAILED' ? { dead: deadReasonOf(run) } : {}),
  };
}

/** A run not yet tried that is not due is delayed; one tried before waits out a retry back-off. */
function waitingFor(
  run: RunRecord,
  unserved: boolean,
  now: number,
  limited: RateLimited | undefined,
): { waitingFor?: string } {
  if (run.availableAt > now) {
    const until = iso(run.availableAt);
    return { waitingFor: run.attempt === 0 ? `not due until ${until}` : `a retry back-off until ${until}` };
  }
  if (unserved) return { waitingFor: 'a worker that serves this task (none is ACTIVE)' };
  if (limited) return { waitingFor: `rate limited on ${limited.key} until ${iso(limited.until)}` };
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
  unserved: boolean,
  limited?: RateLimited,
): RunDetailView {
  return { ...runView(run, unserved, Date.now(), limited), attempts: attempts.map(attemptView) };
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
