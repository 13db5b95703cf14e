// The soak's checks of durable workflows, from the store after the run (audit.ts reads it) and the workers' books:
// every workflow run ended once in the state its tasks imply, one run per task, steps recorded once and never
// rewritten, no wake lost, every wait a published event matched woken by it.
import type { Journal } from '../src/protocol/journal.ts';
import { TERMINAL_RUN_STATES } from '../src/protocol/schemas.ts';
import type { Book } from './check.ts';
import type { Downtime } from './flow.ts';
import { DURABLE_FLOW } from './plan.ts';

/** A workflow run the soak enqueued, and whether it published the event its wait expects. */
export interface WorkflowPlan {
  workflowRunId: string;
  flow: string;
  wake: boolean;
}

export interface DurableRunRecord {
  id: string;
  task: string;
  state: string;
  attempt: number;
  workflowRunId: string | null;
  parentRunId: string | null;
  journal: Journal | null;
  availableAt: number;
}

export interface DurableAudit {
  plans: WorkflowPlan[];
  workflowRuns: { id: string; workflow: string; state: string; input: unknown }[];
  /** Each state a workflow run was written with, in order (`oldState` null: its insert). */
  transitions: { workflowRunId: string; oldState: string | null; newState: string }[];
  /** Every run of a workflow, every child run, and every run with a journal. */
  runs: DurableRunRecord[];
  /** Each change of a run's journal: the attempt it was made in, and when (ms). */
  journals: { runId: string; attempt: number; journal: Journal | null; at: number }[];
  attempts: { runId: string; attempt: number; assignedAt: number | null; outcome: string }[];
  events: { id: string; name: string; payload: unknown; createdAt: number }[];
  downtimes: Downtime[];
  /** When the soak saw every run end (ms): a run still suspended must not have been due long before. */
  end: number;
}

export const DURABLE_VIOLATIONS = [
  'workflow_terminal',
  'workflow_state',
  'workflow_task_duplicates',
  'step_records',
  'step_duplicates',
  'step_rewrites',
  'lost_wakes',
  'wakes_missed',
] as const;
export type DurableViolation = (typeof DURABLE_VIOLATIONS)[number];

export interface DurableCounts {
  workflowRuns: number;
  workflowsCompleted: number;
  durableRuns: number;
  childRuns: number;
  stepExecutions: number;
  /** Executions of a step in an attempt before the one its result was recorded in (its worker died first). */
  stepsRerun: number;
  suspensions: number;
  /** Suspensions begun before an engine stop and resumed after its restart. */
  suspendedAcrossRestart: number;
  /** Workflow runs whose wait the soak planned to wake, and the wake events it published. */
  wakesPlanned: number;
  wakesPublished: number;
  waitsWoken: number;
  waitsTimedOut: number;
}

/** A suspended run still queued this long after it was due at the end is a lost wake. */
export const WAKE_MARGIN_MS = 10_000;

const WORKFLOW_TASKS = Object.values(DURABLE_FLOW.tasks);
const WAIT_ENTRY = 'wait:1';

interface StepExecution {
  attempt: number;
  nonce: string;
}

/**
 * Steps. A step's function runs, writes its book line, and returns `{ step, attempt, nonce }`, which the worker
 * sends as the step's result; the engine keeps the first result of the run's current attempt and never another.
 * So with the journal entry naming the execution `R` (its nonce, at attempt `k`):
 * - `R` is in the books at attempt `k` (else the journal holds what no execution returned: `step_records`);
 * - every other execution was in an attempt before `k`, one whose result never reached the engine because its
 *   worker died or the attempt was superseded (counted as `stepsRerun`); one at `k` or later ran a step whose
 *   result the run had already recorded (`step_duplicates`);
 * - a step executed in a run that completed has an entry (`step_records`);
 * - once written, the entry is the same in every later journal (`step_rewrites`).
 */
function judgeSteps(
  audit: DurableAudit,
  books: Book[],
  v: Record<DurableViolation, string[]>,
  counts: DurableCounts,
) {
  const executions = new Map<string, StepExecution[]>();
  for (const book of books)
    for (const line of book.lines) {
      if (line.e !== 'step' || !line.step || !line.nonce) continue;
      counts.stepExecutions++;
      const key = `${line.run}/${line.step}`;
      executions.set(key, [...(executions.get(key) ?? []), { attempt: line.attempt, nonce: line.nonce }]);
    }
  const runs = new Map(audit.runs.map((r) => [r.id, r]));
  for (const [key, list] of executions) {
    const [runId, step] = key.split('/') as [string, string];
    const run = runs.get(runId);
    const entry = run?.journal?.[step];
    if (entry?.kind !== 'step') {
      if (run?.state === 'COMPLETED') v.step_records.push(`${key}: executed ${list.length}x, never recorded`);
      continue;
    }
    const recorded = entry.output as { nonce?: string; attempt?: number } | null;
    const r = list.find((e) => e.nonce === recorded?.nonce);
    if (!r || r.attempt !== recorded?.attempt) {
      v.step_records.push(`${key}: the journal holds a result no execution returned`);
      continue;
    }
    for (const e of list) {
      if (e === r) continue;
      if (e.attempt < r.attempt) counts.stepsRerun++;
      else v.step_duplicates.push(`${key}: ran at attempt ${e.attempt}, recorded at attempt ${r.attempt}`);
    }
  }
  // Journals in the order they were written, then the final one: a step entry, once there, never changes.
  const seen = new Map<string, string>();
  const snapshots = [
    ...audit.journals.map((j) => ({ runId: j.runId, journal: j.journal })),
    ...audit.runs.map((r) => ({ runId: r.id, journal: r.journal })),
  ];
  for (const { runId, journal } of snapshots) {
    for (const [key, text] of seen) {
      if (!key.startsWith(`${runId}/`)) continue;
      const entry = journal?.[key.slice(runId.length + 1)];
      const now = entry ? JSON.stringify(entry) : 'nothing';
      if (now !== text) v.step_rewrites.push(`${key}: ${text} became ${now}`);
    }
    for (const [name, entry] of Object.entries(journal ?? {}))
      if (entry.kind === 'step' && !seen.has(`${runId}/${name}`))
        seen.set(`${runId}/${name}`, JSON.stringify(entry));
  }
}

/** Workflow runs: ended once, in the state of their tasks, with one run per task and one child per `d`. */
function judgeWorkflows(audit: DurableAudit, v: Record<DurableViolation, string[]>, counts: DurableCounts) {
  const byId = new Map(audit.workflowRuns.map((w) => [w.id, w]));
  for (const p of audit.plans) {
    const w = byId.get(p.workflowRunId);
    if (!w) {
      v.workflow_terminal.push(`${p.workflowRunId}: no such workflow run`);
      continue;
    }
    const writes = audit.transitions.filter((t) => t.workflowRunId === w.id);
    const closings = writes.filter(
      (t) => !TERMINAL_RUN_STATES.has(t.oldState ?? '') && TERMINAL_RUN_STATES.has(t.newState),
    );
    const reopenings = writes.filter((t) => TERMINAL_RUN_STATES.has(t.oldState ?? ''));
    if (!TERMINAL_RUN_STATES.has(w.state)) v.workflow_terminal.push(`${w.id}: ${w.state}`);
    else if (closings.length !== 1 || reopenings.length > 0)
      v.workflow_terminal.push(`${w.id}: ${closings.length} terminal writes, ${reopenings.length} after`);

    const tasks = audit.runs.filter((r) => r.workflowRunId === w.id);
    for (const name of WORKFLOW_TASKS) {
      const n = tasks.filter((r) => r.task === name).length;
      if (n > 1) v.workflow_task_duplicates.push(`${w.id}: ${n} runs of ${name}`);
    }
    const allCompleted = WORKFLOW_TASKS.every((name) =>
      tasks.some((r) => r.task === name && r.state === 'COMPLETED'),
    );
    if ((w.state === 'COMPLETED') !== allCompleted)
      v.workflow_state.push(`${w.id}: ${w.state}, its tasks ${allCompleted ? 'all' : 'not all'} completed`);
    else if (w.state !== 'COMPLETED') v.workflow_state.push(`${w.id}: ${w.state}, expected COMPLETED`);
    if (w.state === 'COMPLETED') counts.workflowsCompleted++;
    for (const d of tasks.filter((r) => r.task === DURABLE_FLOW.tasks.d)) {
      const children = audit.runs.filter((r) => r.parentRunId === d.id);
      if (children.length !== 1) v.workflow_task_duplicates.push(`${d.id}: ${children.length} child runs`);
    }
  }
  counts.workflowRuns = audit.plans.length;
}

/**
 * Wakes. No suspended run is still queued well past its due time at the end. A wait on the wake event of its
 * workflow run, begun at `t0` (its entry's first journal) and due at `until`, must have received an event when one
 * matching it was published in between, and what it received is such an event, which its step `c` saw.
 */
function judgeWakes(audit: DurableAudit, v: Record<DurableViolation, string[]>, counts: DurableCounts) {
  for (const r of audit.runs) {
    if (r.state === 'QUEUED' && r.journal && r.availableAt + WAKE_MARGIN_MS < audit.end)
      v.lost_wakes.push(`${r.id} (${r.task}) still queued, due ${new Date(r.availableAt).toISOString()}`);
  }
  counts.suspensions = audit.attempts.filter((a) => a.outcome === 'suspended').length;
  const assigned = new Map(audit.attempts.map((a) => [`${a.runId}#${a.attempt}`, a.assignedAt]));
  const begun = new Set<string>();
  for (const j of audit.journals) {
    for (const [name, entry] of Object.entries(j.journal ?? {})) {
      if (entry.kind === 'step' || begun.has(`${j.runId}/${name}`)) continue;
      begun.add(`${j.runId}/${name}`);
      const resumed = assigned.get(`${j.runId}#${j.attempt + 1}`);
      if (resumed && audit.downtimes.some((d) => j.at < d.from && resumed > d.to))
        counts.suspendedAcrossRestart++;
    }
  }
  counts.wakesPublished = audit.events.filter((e) => e.name === DURABLE_FLOW.wakeEvent).length;
  const flowOf = new Map(audit.plans.map((p) => [p.workflowRunId, p.flow]));
  for (const r of audit.runs.filter((x) => x.task === DURABLE_FLOW.tasks.c)) {
    const entry = r.journal?.[WAIT_ENTRY];
    if (entry?.kind !== 'wait') continue;
    const begun = audit.journals.find((j) => j.runId === r.id && j.journal?.[WAIT_ENTRY])?.at;
    const until = Date.parse(entry.until);
    const flow = r.workflowRunId ? flowOf.get(r.workflowRunId) : undefined;
    const matches = (e: DurableAudit['events'][number]) =>
      e.name === DURABLE_FLOW.wakeEvent &&
      (e.payload as { flow?: string } | null)?.flow === flow &&
      begun !== undefined &&
      e.createdAt > begun &&
      e.createdAt <= until;
    const matching = audit.events.filter(matches);
    const got = entry.received;
    if (got) {
      counts.waitsWoken++;
      if (!matching.some((e) => e.id === got.id))
        v.wakes_missed.push(`${r.id}: received ${got.id}, which no matching event published in its wait is`);
    } else {
      counts.waitsTimedOut++;
      if (matching.length > 0)
        v.wakes_missed.push(`${r.id}: ${matching[0]!.id} matched its wait, which timed out`);
    }
    const seen = r.journal?.c;
    if (seen?.kind === 'step' && (seen.output as { received?: string | null }).received !== (got?.id ?? null))
      v.wakes_missed.push(`${r.id}: its step saw ${(seen.output as { received?: string }).received}`);
  }
}

export function judgeDurable(
  audit: DurableAudit,
  books: Book[],
): { counts: DurableCounts; violations: Record<DurableViolation, string[]> } {
  const v = Object.fromEntries(DURABLE_VIOLATIONS.map((k) => [k, [] as string[]])) as Record<
    DurableViolation,
    string[]
  >;
  const counts: DurableCounts = {
    workflowRuns: 0,
    workflowsCompleted: 0,
    durableRuns: audit.runs.filter((r) => r.workflowRunId !== null).length,
    childRuns: audit.runs.filter((r) => r.parentRunId !== null).length,
    stepExecutions: 0,
    stepsRerun: 0,
    suspensions: 0,
    suspendedAcrossRestart: 0,
    wakesPlanned: audit.plans.filter((p) => p.wake).length,
    wakesPublished: 0,
    waitsWoken: 0,
    waitsTimedOut: 0,
  };
  judgeWorkflows(audit, v, counts);
  judgeSteps(audit, books, v, counts);
  judgeWakes(audit, v, counts);
  return { counts, violations: v };
}
