import { describe, expect, it } from 'vitest';
import { CLAIM_HEAD, CLAIM_HEAD_CHECKED } from '../../src/engine/store/claims/head.ts';
import { ASSIGN_CHOSEN } from '../../src/engine/store/claims/scan.ts';

/** The SET list of the statement's update of pw_runs, with its whitespace made single spaces. */
const setList = (statement: string) =>
  /UPDATE pw_runs SET (.*?) FROM /s.exec(statement)?.[1]?.replace(/\s+/g, ' ').trim();

describe('claim statements', () => {
  // Each statement is written whole, so what a claim sets on a run is written three times.
  it('set the same on each run they take, in the head claims and the scan claim', () => {
    const assign = setList(ASSIGN_CHOSEN);
    expect(assign).toContain("state = 'ASSIGNED'");
    expect(setList(CLAIM_HEAD)).toBe(assign);
    expect(setList(CLAIM_HEAD_CHECKED)).toBe(assign);
  });
});
