// The rules of a workflow's DAG: what is a DAG, what a workflow run does next from its task runs, and how
// workflow() refuses a DAG that is not one where it is declared.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dagStep } from '../../src/engine/workflows/dag-step.ts';
import { task, workflow } from '../../src/index.ts';
import { dagProblem, WorkflowManifest } from '../../src/protocol/workflows.ts';

const dag = WorkflowManifest.parse({
  name: 'd',
  tasks: [
    { task: 'a' },
    { task: 'b', parents: ['a'] },
    { task: 'c', parents: ['a'] },
    { task: 'd', parents: ['b', 'c'] },
  ],
});
const run = (task: string, state: string, output?: unknown) => ({ task, state, output }) as any;

describe('dagProblem', () => {
  it('accepts a DAG and names what makes a list of tasks not one', () => {
    expect(dagProblem(dag.tasks)).toBeUndefined();
    expect(dagProblem([{ task: 'a', parents: ['x'] }])).toMatch(/parent "x", which is not in the workflow/);
    expect(dagProblem([{ task: 'a', parents: ['a'] }])).toMatch(/itself/);
    expect(
      dagProblem([
        { task: 'a', parents: ['b'] },
        { task: 'b', parents: ['a'] },
      ]),
    ).toBe('the parents form a cycle');
    expect(
      dagProblem([
        { task: 'a', parents: [] },
        { task: 'a', parents: [] },
      ]),
    ).toMatch(/twice/);
    expect(WorkflowManifest.safeParse({ name: 'w', tasks: [{ task: 'a', parents: ['a'] }] }).success).toBe(
      false,
    );
  });
});

describe('dagStep', () => {
  it('starts the tasks without parents first, then each task whose parents all completed, with their outputs', () => {
    expect(dagStep(dag, [], false)).toEqual({
      start: [{ task: 'a', parentOutputs: {} }],
      end: [],
      final: undefined,
    });
    expect(dagStep(dag, [run('a', 'RUNNING')], false)).toEqual({ start: [], end: [], final: undefined });
    expect(dagStep(dag, [run('a', 'COMPLETED', 1)], false).start).toEqual([
      { task: 'b', parentOutputs: { a: 1 } },
      { task: 'c', parentOutputs: { a: 1 } },
    ]);
    // The fan-in waits for both parents.
    const one = [run('a', 'COMPLETED', 1), run('b', 'COMPLETED', 2), run('c', 'RUNNING')];
    expect(dagStep(dag, one, false).start).toEqual([]);
    const both = [run('a', 'COMPLETED', 1), run('b', 'COMPLETED', 2), run('c', 'COMPLETED', 3)];
    expect(dagStep(dag, both, false).start).toEqual([{ task: 'd', parentOutputs: { b: 2, c: 3 } }]);
    expect(dagStep(dag, [...both, run('d', 'COMPLETED', 4)], false).final).toBe('COMPLETED');
  });

  it('fails every task below a failed parent at once, lets the other branch run, and fails the run at the end', () => {
    const failed = dagStep(dag, [run('a', 'COMPLETED', 1), run('b', 'FAILED'), run('c', 'RUNNING')], false);
    expect(failed.end).toEqual([
      {
        task: 'd',
        state: 'FAILED',
        error: { name: 'ParentFailed', message: 'parent task "b" failed', retryable: false },
      },
    ]);
    expect(failed.final).toBeUndefined();
    const below = dagStep(dag, [run('a', 'FAILED')], false);
    expect(below.end.map((e) => [e.task, e.error.name])).toEqual([
      ['b', 'ParentFailed'],
      ['c', 'ParentFailed'],
      ['d', 'ParentFailed'],
    ]);
    expect(below.final).toBe('FAILED');
    const cancelled = dagStep(dag, [run('a', 'CANCELLED')], false);
    expect(cancelled.end.map((e) => [e.task, e.state, e.error.name])[0]).toEqual([
      'b',
      'CANCELLED',
      'ParentCancelled',
    ]);
    expect(cancelled.final).toBe('CANCELLED');
  });

  it('after a cancel, starts nothing, ends every task not started, and ends the run cancelled', () => {
    const step = dagStep(dag, [run('a', 'COMPLETED', 1), run('b', 'CANCELLED')], true);
    expect(step.start).toEqual([]);
    expect(step.end.map((e) => [e.task, e.error.name])).toEqual([
      ['c', 'WorkflowCancelled'],
      ['d', 'WorkflowCancelled'],
    ]);
    expect(step.final).toBe('CANCELLED');
    expect(dagStep(dag, [run('a', 'RUNNING')], true).final).toBeUndefined();
  });
});

describe('workflow()', () => {
  const a = task({ name: 'a', input: z.unknown(), run: () => 1 });
  const b = task({ name: 'b', input: z.unknown(), parents: [a], run: () => 2 });

  it('refuses a parent outside the workflow, a bad name, and a repeated task', () => {
    expect(() => workflow({ name: 'w', tasks: [b] })).toThrow(/parent "a", which is not in the workflow/);
    expect(() => workflow({ name: 'has space', tasks: [a] })).toThrow(/workflow names/);
    expect(() => workflow({ name: 'w', tasks: [a, a] })).toThrow(/twice/);
    expect(workflow({ name: 'w', tasks: [a, b] }).tasks).toEqual([a, b]);
  });

  it('refuses a parent of the same name declared elsewhere', () => {
    const otherA = task({ name: 'a', input: z.unknown(), run: () => 0 });
    const c = task({ name: 'c', input: z.unknown(), parents: [otherA], run: () => 3 });
    expect(() => workflow({ name: 'w', tasks: [a, c] })).toThrow(/declared elsewhere/);
  });
});
