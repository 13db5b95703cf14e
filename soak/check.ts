// The soak's verdict: from the planned runs, the engine's final views, the workers' books and the store audit.

import { TERMINAL_RUN_STATES } from '../src/protocol/schemas.ts';
import type { AuditRow } from './audit.ts';
import { DURABLE_VIOLATIONS, type DurableAudit, type DurableCounts, judgeDurable } from './durable.ts';
import { FLOW_VIOLATIONS, type FlowAudit, type FlowCounts, judgeFlow } from './flow.ts';

export type Expected = 'COMPLETED' | 'FAILED';
export interface PlannedRun {
  id: string;
  expected: Expected;
}
export interface FinalRun {
  id: string;
  task?: string;
  state: string;
  attempt: number;
  output?: unknown;
  /** Runs of workflows and child runs, which the durable checks judge. */
  workflowRunId?: string;
  parentRunId?: string;
}
export interface BookLine {
  e: 'start' | 'end' | 'answer' | 'step';
  /** A step line: the step executed. */
  step?: string;
  run: string;
  attempt: number;
  nonce?: string;
  used?: number;
  outcome?: string;
  type?: string;
  result?: string;
}
/** One worker's bookkeeping file and the slots it was given. */
export interface Book {
  worker: string;
  slots: number;
  lines: BookLine[];
}

export const VIOLATIONS = [
  'lost',
  'stuck',
  'wrong_outcome',
  'bad_record',
  'duplicate_records',
  'duplicate_executions',
  'stale_accepted',
  'slot_overuse',
  'secret_leaks',
  ...FLOW_VIOLATIONS,
  ...DURABLE_VIOLATIONS,
] as const;
export type Violation = (typeof VIOLATIONS)[number];

export interface Verdict {
  counts: {
    runs: number;
    completed: number;
    failed: number;
    cancelled: number;
    retried: number;
    executions: number;
    maxSlotsUsed: number;
    /** Schedules and rate limits, when the flow audit was given. */
    flow?: FlowCounts;
    /** Durable workflows, when their audit was given. */
    durable?: DurableCounts;
  };
  violations: Record<Violation, string[]>;
  total: number;
}

export function judge(
  planned: PlannedRun[],
  finals: FinalRun[],
  books: Book[],
  audit: AuditRow[],
  leaks: string[],
  flow?: FlowAudit,
  durable?: DurableAudit,
): Verdict {
  const v = Object.fromEntries(VIOLATIONS.map((k) => [k, [] as string[]])) as Record<Violation, string[]>;
  const finalById = new Map(finals.map((r) => [r.id, r]));
  const starts = new Map<string, number>();
  const endByNonce = new Map<string, string>();
  const okCompletions = new Map<string, Set<number>>();
  let maxSlotsUsed = 0;
  let executions = 0;

  for (const book of books) {
    for (const line of book.lines) {
      if (line.e === 'start') {
        executions++;
        const key = `${line.run}#${line.attempt}`;
        starts.set(key, (starts.get(key) ?? 0) + 1);
        maxSlotsUsed = Math.max(maxSlotsUsed, line.used ?? 0);
        if ((line.used ?? 0) > book.slots)
          v.slot_overuse.push(`${book.worker}: ${line.used}/${book.slots} at ${key}`);
      } else if (line.e === 'end' && line.nonce) endByNonce.set(line.nonce, line.outcome ?? '');
      else if (line.e === 'answer' && line.type === 'completed' && line.result === 'ok') {
        const set = okCompletions.get(line.run) ?? new Set<number>();
        set.add(line.attempt);
        okCompletions.set(line.run, set);
      }
    }
  }
  for (const [key, n] of starts) if (n > 1) v.duplicate_executions.push(`${key} ran ${n} times`);

  const auditByRun = new Map<string, AuditRow[]>();
  for (const row of audit) auditByRun.set(row.run_id, [...(auditByRun.get(row.run_id) ?? []), row]);

  const counts = { completed: 0, failed: 0, cancelled: 0, retried: 0 };
  for (const p of planned) {
    const run = finalById.get(p.id);
    if (!run) {
      v.lost.push(p.id);
      continue;
    }
    if (!TERMINAL_RUN_STATES.has(run.state)) {
      v.stuck.push(`${p.id} ${run.state}`);
      continue;
    }
    if (run.state === 'COMPLETED') counts.completed++;
    else if (run.state === 'FAILED') counts.failed++;
    else counts.cancelled++;
    if (run.attempt > 1) counts.retried++;
    if (run.state !== p.expected) v.wrong_outcome.push(`${p.id} ${run.state}, expected ${p.expected}`);

    const rows = auditByRun.get(p.id) ?? [];
    const closings = rows.filter(
      (r) => !TERMINAL_RUN_STATES.has(r.old_state) && TERMINAL_RUN_STATES.has(r.new_state),
    );
    const reopenings = rows.filter((r) => TERMINAL_RUN_STATES.has(r.old_state));
    if (closings.length !== 1 || reopenings.length > 0) {
      v.duplicate_records.push(`${p.id}: ${closings.length} terminal writes, ${reopenings.length} after`);
    }
    const ok = okCompletions.get(p.id) ?? new Set<number>();
    for (const attempt of ok) {
      if (attempt !== run.attempt || run.state !== 'COMPLETED')
        v.stale_accepted.push(`${p.id}#${attempt} accepted, run ${run.state} at attempt ${run.attempt}`);
    }
    if (run.state === 'COMPLETED') {
      const out = run.output as { run?: string; attempt?: number; nonce?: string } | undefined;
      const recorded = closings[0]?.output as { nonce?: string } | undefined;
      const problem =
        out?.run !== p.id
          ? 'output names another run'
          : out.attempt !== run.attempt
            ? `output from attempt ${out.attempt}, run at ${run.attempt}`
            : !out.nonce || endByNonce.get(out.nonce) !== 'completed'
              ? 'output from no completed execution'
              : recorded && recorded.nonce !== out.nonce
                ? 'store holds another output than the API'
                : undefined;
      if (problem) v.bad_record.push(`${p.id}: ${problem}`);
    }
  }
  const plain = finals.filter((r) => !r.workflowRunId && !r.parentRunId).length;
  if (plain > planned.length) v.lost.push(`${plain - planned.length} unplanned runs`);
  v.secret_leaks.push(...leaks);
  let flowCounts: FlowCounts | undefined;
  if (flow) {
    const judged = judgeFlow(flow);
    flowCounts = judged.counts;
    for (const k of FLOW_VIOLATIONS) v[k].push(...judged.violations[k]);
  }

  let durableCounts: DurableCounts | undefined;
  if (durable) {
    const judged = judgeDurable(durable, books);
    durableCounts = judged.counts;
    for (const k of DURABLE_VIOLATIONS) v[k].push(...judged.violations[k]);
  }

  const total = VIOLATIONS.reduce((n, k) => n + v[k].length, 0);
  return {
    counts: {
      runs: planned.length,
      ...counts,
      executions,
      maxSlotsUsed,
      ...(flowCounts ? { flow: flowCounts } : {}),
      ...(durableCounts ? { durable: durableCounts } : {}),
    },
    violations: v,
    total,
  };
}
