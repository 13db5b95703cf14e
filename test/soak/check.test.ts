import { describe, expect, it } from 'vitest';
import type { AuditRow } from '../../soak/audit.ts';
import { type Book, judge, type PlannedRun } from '../../soak/check.ts';

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
