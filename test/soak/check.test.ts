import { describe, expect, it } from 'vitest';
import type { AuditRow } from '../../soak/audit.ts';
import { type Book, judge, type PlannedRun } from '../../soak/check.ts';
import { type DurableAudit, type DurableRunRecord, WAKE_MARGIN_MS } from '../../soak/durable.ts';
import {
  type Assignment,
  type Downtime,
  documentedTickKey,
  type FlowAudit,
  type RateLimitAudit,
  type ScheduleAudit,
  type TickRun,
} from '../../soak/flow.ts';
import { DURABLE_FLOW } from '../../soak/plan.ts';

// The soak's checker must be able to fail: each violation it exists to catch is planted here once.
const planned: PlannedRun[] = [{ id: 'r1', expected: 'COMPLETED' }];
const finals = [{ id: 'r1', state: 'COMPLETED', attempt: 2, output: { run: 'r1', attempt: 2, nonce: 'n2' } }];
const book = (lines: Book['lines']): Book[] => [{ worker: 'w', slots: 2, lines }];
const goodLines: Book['lines'] = [
  { e: 'start', run: 'r1', attempt: 1, nonce: 'n1', used: 1 },
  { e: 'end', run: 'r1', attempt: 1, nonce: 'n1', outcome: 'failed' },
  { e: 'start', run: 'r1', attempt: 2, nonce: 'n2', used: 2 },
  { e: 'end', run: 'r1', attempt: 2, nonce: 'n2', outcome: 'completed' },
  { e: 'answer', run: 'r1', attempt: 2, type: 'completed', result: 'ok' },
];
const goodAudit: AuditRow[] = [
  { run_id: 'r1', old_state: 'RUNNING', new_state: 'COMPLETED', attempt: 2, output: { nonce: 'n2' } },
];

describe('the soak checker', () => {
  it('passes a clean history', () => {
    expect(judge(planned, finals, book(goodLines), goodAudit, []).total).toBe(0);
  });

  it('flags a run that is missing, or not terminal', () => {
    expect(judge(planned, [], book(goodLines), goodAudit, []).violations.lost).toHaveLength(1);
    const running = [{ ...finals[0]!, state: 'RUNNING' }];
    expect(judge(planned, running, book(goodLines), goodAudit, []).violations.stuck).toHaveLength(1);
  });

  it('flags a result recorded twice, or rewritten after it was terminal', () => {
    const twice = [...goodAudit, { ...goodAudit[0]! }];
    expect(judge(planned, finals, book(goodLines), twice, []).violations.duplicate_records).toHaveLength(1);
    const rewritten = [...goodAudit, { ...goodAudit[0]!, old_state: 'COMPLETED' }];
    expect(judge(planned, finals, book(goodLines), rewritten, []).violations.duplicate_records).toHaveLength(
      1,
    );
  });

  it('flags an attempt whose body ran twice, and a worker over its slots', () => {
    const again = [...goodLines, { e: 'start' as const, run: 'r1', attempt: 2, nonce: 'n3', used: 3 }];
    const verdict = judge(planned, finals, book(again), goodAudit, []);
    expect(verdict.violations.duplicate_executions).toHaveLength(1);
    expect(verdict.violations.slot_overuse).toHaveLength(1);
  });

  it('flags an output that no completed execution produced, and a superseded attempt accepted', () => {
    const failedBody = goodLines.map((l) =>
      l.nonce === 'n2' && l.e === 'end' ? { ...l, outcome: 'failed' } : l,
    );
    expect(judge(planned, finals, book(failedBody), goodAudit, []).violations.bad_record).toHaveLength(1);
    const staleOk = [
      ...goodLines,
      { e: 'answer' as const, run: 'r1', attempt: 1, type: 'completed', result: 'ok' },
    ];
    expect(judge(planned, finals, book(staleOk), goodAudit, []).violations.stale_accepted).toHaveLength(1);
  });

  it('flags a wrong outcome and a leaked secret', () => {
    const verdict = judge([{ id: 'r1', expected: 'FAILED' }], finals, book(goodLines), goodAudit, ['x.log']);
    expect(verdict.violations.wrong_outcome).toHaveLength(1);
    expect(verdict.violations.secret_leaks).toHaveLength(1);
  });
});

// The time and flow checks, on a schedule firing every second and two rate limit keys.
const S = 'tick';
const T0 = Date.parse('2027-01-01T00:00:00.000Z');
const sec = (n: number) => T0 + n * 1_000;
const schedule: ScheduleAudit = {
  name: S,
  cron: '* * * * * *',
  timezone: 'UTC',
  missed: 'latest',
  createdAt: T0,
};
/** The run of tick `n`, enqueued `lag` ms after it. */
const tickRun = (n: number, lag = 20, id = `t${n}`): TickRun => ({
  runId: id,
  schedule: S,
  tick: sec(n),
  idempotencyKey: documentedTickKey(S, sec(n)),
  createdAt: sec(n) + lag,
});
/**
 * Ticks 1 to 10 fired on time, then the engine down from 10.5 s to 14.2 s: 11, 12 and 13 skipped, 14 (the latest
 * missed) run by the restarted engine's first round, then 15 and 16 on time.
 */
const downtimes: Downtime[] = [{ from: sec(10) + 500, to: sec(14) + 200 }];
const ticks = [
  ...Array.from({ length: 10 }, (_, i) => tickRun(i + 1)),
  tickRun(14, 230),
  tickRun(15),
  tickRun(16),
];
const rateLimits: RateLimitAudit[] = [
  { key: 'api', limit: 3, perMs: 1_000 },
  { key: 'tenant:a', limit: 4, perMs: 2_000 },
];
/** Three runs a second on `api`, each taking two units of `tenant:a` every other second. */
const assignments: Assignment[] = Array.from({ length: 12 }, (_, i) => ({
  runId: `r${i}`,
  attempt: 1,
  assignedAt: T0 + Math.floor(i / 3) * 1_000 + (i % 3) * 300,
  uses: [
    { key: 'api', units: 1 },
    ...(Math.floor(i / 3) % 2 === 0 && i % 3 < 2 ? [{ key: 'tenant:a', units: 2 }] : []),
  ],
}));
const goodFlow: FlowAudit = {
  schedules: [schedule],
  ticks,
  downtimes,
  through: sec(16),
  rateLimits,
  assignments,
};
const flowOf = (changes: Partial<FlowAudit>) =>
  judge(planned, finals, book(goodLines), goodAudit, [], { ...goodFlow, ...changes });

describe('the soak checker of schedules and rate limits', () => {
  it('passes ticks fired once each, those missed in the downtime but its latest, and windows at their limits', () => {
    const verdict = flowOf({});
    expect(verdict.total, JSON.stringify(verdict.violations)).toBe(0);
    expect(verdict.counts.flow).toMatchObject({
      ticksFired: 13,
      ticksSkipped: 3,
      rateLimitedRuns: 12,
      rateLimitedStarts: 12,
      windows: [
        { key: 'api', max: 3, limit: 3 },
        { key: 'tenant:a', max: 4, limit: 4 },
      ],
    });
    // The downtime's late tick is not counted as lag.
    expect(verdict.counts.flow!.maxTickLagMs).toBe(20);
  });

  it('flags a tick that enqueued two runs', () => {
    const twice = { ...tickRun(5, 900, 'again'), idempotencyKey: `${documentedTickKey(S, sec(5))}-x` };
    const verdict = flowOf({ ticks: [...ticks, twice] });
    expect(verdict.violations.tick_duplicates).toEqual([
      'tick 2027-01-01T00:00:05.000Z enqueued 2 runs (t5, again)',
    ]);
    // And that the second one's key is not a tick's key, which is what keeps a tick to one run.
    expect(verdict.violations.tick_policy).toEqual([expect.stringContaining('again): idempotency key')]);
  });

  it('flags a tick lost while the engine was up, before the stop and right after the restart', () => {
    const before = flowOf({ ticks: ticks.filter((t) => t.runId !== 't5') });
    expect(before.violations.ticks_lost).toEqual([expect.stringContaining('00:00:05.000Z never fired')]);
    // Tick 15 came due after the restarted engine's cron loop began: the policy does not excuse it.
    const after = flowOf({ ticks: ticks.filter((t) => t.runId !== 't15') });
    expect(after.violations.ticks_lost).toEqual([expect.stringContaining('00:00:15.000Z never fired')]);
    // Up to the tick the soak saw fire before it paused the schedule, even with no run after it.
    const last = flowOf({ ticks: ticks.filter((t) => t.runId !== 't16') });
    expect(last.violations.ticks_lost).toEqual([expect.stringContaining('00:00:16.000Z never fired')]);
    // Tick 9 is a loss too: its successor came due before the stop, so it was not the tick waiting then.
    const nine = flowOf({ ticks: ticks.filter((t) => t.runId !== 't9') });
    expect(nine.violations.ticks_lost).toEqual([expect.stringContaining('00:00:09.000Z never fired')]);
  });

  it('excuses the tick due when the engine went down, which a killed round may not have fired', () => {
    const killed: Downtime[] = [{ from: sec(10) + 5, to: sec(14) + 200 }];
    const verdict = flowOf({ downtimes: killed, ticks: ticks.filter((t) => t.runId !== 't10') });
    expect(verdict.total, JSON.stringify(verdict.violations)).toBe(0);
    expect(verdict.counts.flow!.ticksSkipped).toBe(4);
  });

  it('flags a downtime whose latest missed tick never ran', () => {
    const verdict = flowOf({
      ticks: ticks.filter((t) => !['t14', 't15', 't16'].includes(t.runId)),
      through: sec(14),
    });
    expect(verdict.violations.ticks_lost).toEqual([expect.stringContaining('00:00:14.000Z never fired')]);
    expect(verdict.counts.flow!.ticksSkipped).toBe(3);
  });

  it('flags missed ticks that were all run, against the latest policy, and a tick enqueued before it was due', () => {
    const backfilled = [tickRun(11, 3_230, 'b11'), tickRun(12, 2_230, 'b12'), tickRun(13, 1_230, 'b13')];
    const verdict = flowOf({ ticks: [...ticks, ...backfilled] });
    expect(verdict.violations.tick_policy).toHaveLength(3);
    expect(verdict.violations.tick_policy[0]).toContain('when 2027-01-01T00:00:12.000Z was due already');
    expect(verdict.violations.ticks_lost).toHaveLength(0);
    // Under `backfill` the same history is right, and the downtime excuses nothing.
    const backfill = { ...schedule, missed: 'backfill' as const };
    expect(flowOf({ schedules: [backfill], ticks: [...ticks, ...backfilled] }).total).toBe(0);
    expect(flowOf({ schedules: [backfill] }).violations.ticks_lost).toHaveLength(3);
    const early = flowOf({ ticks: [...ticks.filter((t) => t.runId !== 't3'), tickRun(3, -5)] });
    expect(early.violations.tick_policy).toEqual([expect.stringContaining('enqueued before its tick')]);
  });

  it('flags a window over its limit, with units counted per attempt in the window of its assignment', () => {
    // A fourth start in the second window of `api`, from a run's retry.
    const retry = { ...assignments[0]!, attempt: 2, assignedAt: T0 + 1_999 };
    const verdict = flowOf({ assignments: [...assignments, retry] });
    expect(verdict.violations.rate_overuse).toEqual([
      'api: 4 units started in [2027-01-01T00:00:01.000Z, 2027-01-01T00:00:02.000Z), limit 3',
      'tenant:a: 6 units started in [2027-01-01T00:00:00.000Z, 2027-01-01T00:00:02.000Z), limit 4',
    ]);
    expect(verdict.counts.flow!.windows.map((w) => `${w.key}:${w.max}/${w.limit}`)).toEqual([
      'api:4/3',
      'tenant:a:6/4',
    ]);
    // The same attempt read twice (ended, and live) counts once.
    expect(flowOf({ assignments: [...assignments, { ...assignments[0]! }] }).total).toBe(0);
  });
});

// The durable workflow checks, on one workflow run a → (b, c) → d whose wait was woken by its event.
const W = 'w1';
const at = (ms: number) => T0 + ms;
const stepEntry = (step: string, attempt: number, nonce: string, extra: Record<string, unknown> = {}) => ({
  kind: 'step' as const,
  output: { step, attempt, nonce, ...extra },
});
const received = { id: 'e1', name: DURABLE_FLOW.wakeEvent, key: null, payload: { flow: 'f1' } };
const waitEntry = {
  kind: 'wait' as const,
  event: DURABLE_FLOW.wakeEvent,
  until: new Date(at(15_000)).toISOString(),
};
const durableRun = (
  id: string,
  task: string,
  journal: DurableRunRecord['journal'],
  more: Partial<DurableRunRecord> = {},
) => ({
  id,
  task,
  state: 'COMPLETED',
  attempt: 1,
  workflowRunId: W,
  parentRunId: null,
  journal,
  availableAt: at(0),
  ...more,
});
const t = DURABLE_FLOW.tasks;
const goodDurable: DurableAudit = {
  plans: [{ workflowRunId: W, flow: 'f1', wake: true }],
  workflowRuns: [{ id: W, workflow: DURABLE_FLOW.workflow, state: 'COMPLETED', input: { flow: 'f1' } }],
  transitions: [
    { workflowRunId: W, oldState: null, newState: 'RUNNING' },
    { workflowRunId: W, oldState: 'RUNNING', newState: 'COMPLETED' },
  ],
  runs: [
    durableRun('A', t.a, { a: stepEntry('a', 1, 'na') }),
    // b1 ran at attempt 1, whose worker died before its result reached the engine, and again at attempt 2.
    durableRun(
      'B',
      t.b,
      {
        b1: stepEntry('b1', 2, 'nb1'),
        'sleep:1': { kind: 'sleep', until: new Date(at(2_000)).toISOString() },
        b2: stepEntry('b2', 3, 'nb2'),
      },
      { attempt: 3 },
    ),
    durableRun(
      'C',
      t.c,
      { 'wait:1': { ...waitEntry, received }, c: stepEntry('c', 2, 'nc', { received: 'e1' }) },
      { attempt: 2 },
    ),
    durableRun(
      'D',
      t.d,
      {
        'child-of-f1': { kind: 'child', runId: 'K', until: new Date(at(9_000)).toISOString() },
        d: stepEntry('d', 2, 'nd'),
      },
      { attempt: 2 },
    ),
    durableRun('K', DURABLE_FLOW.child, null, { workflowRunId: null, parentRunId: 'D' }),
  ],
  journals: [
    { runId: 'A', attempt: 1, journal: { a: stepEntry('a', 1, 'na') }, at: at(100) },
    { runId: 'B', attempt: 2, journal: { b1: stepEntry('b1', 2, 'nb1') }, at: at(1_000) },
    { runId: 'C', attempt: 1, journal: { 'wait:1': waitEntry }, at: at(1_000) },
    { runId: 'C', attempt: 1, journal: { 'wait:1': { ...waitEntry, received } }, at: at(1_500) },
  ],
  attempts: [
    { runId: 'B', attempt: 2, assignedAt: at(900), outcome: 'suspended' },
    { runId: 'C', attempt: 1, assignedAt: at(900), outcome: 'suspended' },
  ],
  events: [{ id: 'e1', name: DURABLE_FLOW.wakeEvent, payload: { flow: 'f1' }, createdAt: at(1_500) }],
  downtimes: [],
  end: at(20_000),
};
const stepLine = (run: string, step: string, attempt: number, nonce: string) => ({
  e: 'step' as const,
  run,
  step,
  attempt,
  nonce,
});
const goodSteps = [
  stepLine('A', 'a', 1, 'na'),
  stepLine('B', 'b1', 1, 'nb0'),
  stepLine('B', 'b1', 2, 'nb1'),
  stepLine('B', 'b2', 3, 'nb2'),
  stepLine('C', 'c', 2, 'nc'),
  stepLine('D', 'd', 2, 'nd'),
];
const durableOf = (changes: Partial<DurableAudit>, steps = goodSteps) =>
  judge(planned, finals, book([...goodLines, ...steps]), goodAudit, [], undefined, {
    ...goodDurable,
    ...changes,
  });
const withRun = (id: string, change: Partial<DurableRunRecord>) =>
  goodDurable.runs.map((r) => (r.id === id ? { ...r, ...change } : r));

describe('the soak checker of durable workflows', () => {
  it('passes a workflow run ended once, a step rerun before its recording attempt, and a woken wait', () => {
    const verdict = durableOf({});
    expect(verdict.total, JSON.stringify(verdict.violations)).toBe(0);
    expect(verdict.counts.durable).toMatchObject({
      workflowRuns: 1,
      workflowsCompleted: 1,
      durableRuns: 4,
      childRuns: 1,
      stepExecutions: 6,
      stepsRerun: 1,
      suspensions: 2,
      suspendedAcrossRestart: 0,
      wakesPlanned: 1,
      wakesPublished: 1,
      waitsWoken: 1,
      waitsTimedOut: 0,
    });
  });

  it('counts a suspension begun before an engine stop and resumed after its restart', () => {
    const attempts = [
      ...goodDurable.attempts,
      { runId: 'C', attempt: 2, assignedAt: at(4_000), outcome: 'completed' },
    ];
    const across = durableOf({ attempts, downtimes: [{ from: at(1_200), to: at(3_000) }] });
    expect(across.counts.durable?.suspendedAcrossRestart).toBe(1);
    expect(
      durableOf({ attempts, downtimes: [{ from: at(500), to: at(3_000) }] }).counts.durable
        ?.suspendedAcrossRestart,
    ).toBe(0);
  });

  it('flags a workflow run ended twice, or not ended', () => {
    const twice = [...goodDurable.transitions, { workflowRunId: W, oldState: 'RUNNING', newState: 'FAILED' }];
    expect(durableOf({ transitions: twice }).violations.workflow_terminal).toHaveLength(1);
    const running = [{ ...goodDurable.workflowRuns[0]!, state: 'RUNNING' }];
    expect(durableOf({ workflowRuns: running }).violations.workflow_terminal).toHaveLength(1);
  });

  it('flags a workflow run completed over a failed task, and a task or a child run created twice', () => {
    expect(durableOf({ runs: withRun('D', { state: 'FAILED' }) }).violations.workflow_state).toHaveLength(1);
    const again = [...goodDurable.runs, durableRun('B2', t.b, null)];
    expect(durableOf({ runs: again }).violations.workflow_task_duplicates).toHaveLength(1);
    const child = [
      ...goodDurable.runs,
      durableRun('K2', DURABLE_FLOW.child, null, { workflowRunId: null, parentRunId: 'D' }),
    ];
    expect(durableOf({ runs: child }).violations.workflow_task_duplicates).toHaveLength(1);
  });

  it('flags a step run again at or after the attempt its result was recorded in', () => {
    const after = [...goodSteps, stepLine('B', 'b1', 3, 'nb3')];
    expect(durableOf({}, after).violations.step_duplicates).toHaveLength(1);
    const sameAttempt = [...goodSteps, stepLine('A', 'a', 1, 'na2')];
    expect(durableOf({}, sameAttempt).violations.step_duplicates).toHaveLength(1);
  });

  it('flags a recorded result that no execution returned, and an executed step of a completed run not recorded', () => {
    const foreign = withRun('A', { journal: { a: stepEntry('a', 1, 'other') } });
    expect(durableOf({ runs: foreign }).violations.step_records).toHaveLength(1);
    const missing = withRun('A', { journal: {} });
    expect(durableOf({ runs: missing }).violations.step_records).toHaveLength(1);
  });

  it('flags a step entry that changed once written', () => {
    const rewritten = [
      ...goodDurable.journals,
      { runId: 'B', attempt: 3, journal: { b1: stepEntry('b1', 3, 'nb3') }, at: at(2_500) },
    ];
    // Changed in a later journal, though the final one holds the first result again.
    expect(durableOf({ journals: rewritten }).violations.step_rewrites).toHaveLength(1);
  });

  it('flags a suspended run still queued well past its due time', () => {
    const queued = withRun('C', { state: 'QUEUED', availableAt: at(20_000) - WAKE_MARGIN_MS - 1 });
    expect(durableOf({ runs: queued }).violations.lost_wakes).toHaveLength(1);
    const soon = withRun('C', { state: 'QUEUED', availableAt: at(20_000) - WAKE_MARGIN_MS + 1 });
    expect(durableOf({ runs: soon }).violations.lost_wakes).toHaveLength(0);
  });

  it('flags a wait a matching event was published in that timed out, or one its step did not see', () => {
    const timedOut = {
      'wait:1': waitEntry,
      c: stepEntry('c', 2, 'nc', { received: null }),
    };
    expect(durableOf({ runs: withRun('C', { journal: timedOut }) }).violations.wakes_missed).toHaveLength(1);
    // With no event published, the same wait timed out as it should.
    const quiet = durableOf({ runs: withRun('C', { journal: timedOut }), events: [] });
    expect(quiet.total, JSON.stringify(quiet.violations)).toBe(0);
    expect(quiet.counts.durable).toMatchObject({ waitsWoken: 0, waitsTimedOut: 1 });
    // An event published before the wait began does not count for it.
    const early = [{ ...goodDurable.events[0]!, createdAt: at(900) }];
    expect(durableOf({ events: early }).violations.wakes_missed).toHaveLength(1);
    const unseen = { 'wait:1': { ...waitEntry, received }, c: stepEntry('c', 2, 'nc', { received: null }) };
    expect(durableOf({ runs: withRun('C', { journal: unseen }) }).violations.wakes_missed).toHaveLength(1);
  });
});
