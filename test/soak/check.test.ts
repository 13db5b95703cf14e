import { describe, expect, it } from 'vitest';
import type { AuditRow } from '../../soak/audit.ts';
import { type Book, judge, type PlannedRun } from '../../soak/check.ts';
import {
  type Assignment,
  type Downtime,
  documentedTickKey,
  type FlowAudit,
  type RateLimitAudit,
  type ScheduleAudit,
  type TickRun,
} from '../../soak/flow.ts';

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
