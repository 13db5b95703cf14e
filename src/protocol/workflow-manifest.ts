// The DAG of a workflow, as a worker's manifest declares it.
import { z } from 'zod';
import { EventTriggers } from './event-name.ts';
import { StickyMode } from './sticky-mode.ts';

const name = z.string().min(1).max(200);

/** Most tasks in one workflow. */
export const MAX_WORKFLOW_TASKS = 100;

/** One task of a workflow and the tasks of the same workflow it runs after. */
export const WorkflowTaskManifest = z.object({
  task: name,
  parents: z.array(name).max(MAX_WORKFLOW_TASKS).default([]),
});
export type WorkflowTaskManifest = z.infer<typeof WorkflowTaskManifest>;

/** Why a list of tasks and parents is not a DAG, or undefined when it is one. */
export function dagProblem(
  tasks: readonly { task: string; parents: readonly string[] }[],
): string | undefined {
  const byName = new Map<string, readonly string[]>();
  for (const t of tasks) {
    if (byName.has(t.task)) return `task "${t.task}" appears twice`;
    byName.set(t.task, t.parents);
  }
  for (const t of tasks) {
    for (const parent of t.parents) {
      if (!byName.has(parent))
        return `task "${t.task}" names parent "${parent}", which is not in the workflow`;
      if (parent === t.task) return `task "${t.task}" names itself as a parent`;
    }
  }
  if (topologicalOrder(tasks) === undefined) return 'the parents form a cycle';
  return undefined;
}

/** The tasks in an order where every parent comes before its children; undefined when there is a cycle. */
export function topologicalOrder<T extends { task: string; parents: readonly string[] }>(
  tasks: readonly T[],
): T[] | undefined {
  const placed = new Set<string>();
  const order: T[] = [];
  let pending = [...tasks];
  while (pending.length > 0) {
    const ready = pending.filter((t) => t.parents.every((p) => placed.has(p)));
    if (ready.length === 0) return undefined;
    for (const t of ready) {
      placed.add(t.task);
      order.push(t);
    }
    pending = pending.filter((t) => !placed.has(t.task));
  }
  return order;
}

/**
 * A workflow as a worker declares it: its tasks (each also served as a task of the manifest) and their parents. A
 * task runs when all its parents have completed, with the workflow run's input and its parents' outputs.
 */
export const WorkflowManifest = z
  .object({
    name,
    tasks: z.array(WorkflowTaskManifest).min(1).max(MAX_WORKFLOW_TASKS),
    /** Pins every task run of one workflow run to the worker its first task ran on. */
    sticky: StickyMode.optional(),
    /** Event names each enqueue a run of the workflow with the event's payload as input. */
    on: EventTriggers.optional(),
  })
  .superRefine((w, ctx) => {
    const problem = dagProblem(w.tasks);
    if (problem) ctx.addIssue({ code: 'custom', path: ['tasks'], message: problem });
  });
export type WorkflowManifest = z.infer<typeof WorkflowManifest>;
