// Typed rows of the store, and the mapping from snake_case columns to them.

import type { Journal } from '../../protocol/journal.ts';
import type {
  ConcurrencyStrategy,
  Labels,
  RunState,
  StickyMode,
  TaskError,
  TaskManifest,
  WorkerKind,
  WorkerState,
} from '../../protocol/schemas.ts';
import type { WorkflowManifest } from '../../protocol/workflow-manifest.ts';
import type { Row } from './sql.ts';

export interface PreferredLabels {
  labels: Labels;
  weight: number;
}

/** A rate limit key a run is held to, and the units it takes from the key's window when it starts. */
export interface RateLimitUse {
  key: string;
  units: number;
}

export interface RunRecord {
  id: string;
  task: string;
  input: unknown;
  metadata: Record<string, unknown> | null;
  state: RunState;
  priority: number;
  idempotencyKey: string | null;
  requiredLabels: Labels | null;
  preferredLabels: PreferredLabels[] | null;
  stickyKey: string | null;
  stickyMode: StickyMode | null;
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  concurrencyStrategy: ConcurrencyStrategy | null;
  rateLimits: RateLimitUse[] | null;
  timeoutMs: number | null;
  retries: number | null;
  slotCost: number | null;
  attempt: number;
  failures: number;
  deliveries: number;
  workerId: string | null;
  slotReleased: boolean;
  endedByWorker: boolean;
  availableAt: number;
  leaseExpiresAt: number | null;
  deadlineAt: number | null;
  createdAt: number;
  assignedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  output: unknown;
  error: TaskError | null;
  /** The id of the minted API token that enqueued the run; null for a static token's run. */
  createdBy: string | null;
  /** The queue deadline: cleared when the run is first assigned, kept on a run that expired (see dead.ts). */
  expiresAt: number | null;
  /** A workflow task's run: its workflow run, and its parents' outputs by task name. */
  workflowRunId: string | null;
  parentOutputs: Record<string, unknown> | null;
  /** Ended, and not yet acted on by the workflow advance (see workflows/advance.ts). */
  dagPending: boolean;
  /** A durable run's journal, sent with every push of it. */
  journal: Journal | null;
  /** A suspended run: its sleep, the event or the child run it waits for (see durable-waits.ts). */
  waiting: Waiting | null;
  /** A child run: the run that spawned it. */
  parentRunId: string | null;
  /** A cancelled run whose live child runs are still to be cancelled (see child-runs.ts). */
  cancelChildren: boolean;
  /** The W3C traceparent the run's spans descend from, when it is traced. */
  traceparent: string | null;
  /** The try (its `failures` when claimed) whose rate limit units the run has taken; null before any. */
  rateUnitsTry: number | null;
}

/** What a suspended durable run waits for: the end of a sleep, or an event (until `until` either way). */
export interface Waiting {
  entry: string;
  until: number;
  event?: string;
  filter?: Record<string, unknown>;
  /** The child run it waits for. */
  child?: string;
}

export interface WorkerRecord {
  id: string;
  name: string;
  url: string;
  kind: WorkerKind;
  slots: number;
  /** The largest push body the worker said it reads; null when it did not say. */
  maxBodyBytes: number | null;
  labels: Labels;
  tasks: TaskManifest[];
  workflows: WorkflowManifest[];
  state: Exclude<WorkerState, 'PAUSED'>;
  paused: boolean;
  reportedUsed: number | null;
  lastHeartbeatAt: number;
  pushFailingSince: number | null;
  pushError: string | null;
  createdAt: number;
  /** Slot-units held by this worker's assigned and running runs (computed). */
  used: number;
}

/** Column names to field names; the columns are few, and every row read goes through this. */
const camelCase = new Map<string, string>();
const camel = (key: string) => {
  let name = camelCase.get(key);
  if (name === undefined) {
    name = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    camelCase.set(key, name);
  }
  return name;
};

function camelRow(row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in row) out[camel(key)] = row[key];
  return out;
}

export function toRun(row: Row): RunRecord {
  return camelRow(row) as unknown as RunRecord;
}

export function toWorker(row: Row): WorkerRecord {
  const w = camelRow(row) as unknown as WorkerRecord;
  w.used = Number(row.used ?? 0);
  return w;
}

/** The state an operator sees: PAUSED overrides ACTIVE and STOPPED, INACTIVE overrides everything. */
export function visibleState(worker: WorkerRecord): WorkerState {
  if (worker.state === 'INACTIVE') return 'INACTIVE';
  return worker.paused ? 'PAUSED' : worker.state;
}

export const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
