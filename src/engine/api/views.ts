// Store records rendered as API views.
import type { RunRecord, WorkerRecord } from '../store/records.ts';
import { visibleState } from '../store/records.ts';
import type { RunView, WorkerView } from './schemas.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function runView(run: RunRecord): RunView {
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
  };
}
