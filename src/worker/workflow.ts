// Declaring workflows: a name and tasks whose `parents` form a DAG, served by a worker beside its tasks.
import { z } from 'zod';
import { EventTriggers } from '../protocol/event-name.ts';
import type { StickyMode } from '../protocol/sticky-mode.ts';
import { dagProblem, type WorkflowManifest } from '../protocol/workflow-manifest.ts';
import type { AnyTask } from './task.ts';

export interface WorkflowOptions {
  name: string;
  /** Every task the workflow runs; each task's `parents` must be in this list too. */
  tasks: AnyTask[];
  /** Pins the task runs of one workflow run to one worker: `soft` while it has room, `hard` while it lives. */
  sticky?: StickyMode;
  /** Event names that each enqueue a run of the workflow with the event's payload as input. */
  on?: string[];
  description?: string;
}

export interface Workflow {
  name: string;
  tasks: AnyTask[];
  sticky?: StickyMode;
  on?: string[];
  description?: string;
}

const WorkflowName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'workflow names use letters, digits and _ . : -');

/** Checks the DAG at once, so a cycle or a parent outside the workflow fails where the workflow is declared. */
export function workflow(options: WorkflowOptions): Workflow {
  WorkflowName.parse(options.name);
  const problem = dagProblem(options.tasks.map(dagEntryOf));
  if (problem) throw new TypeError(`workflow "${options.name}": ${problem}`);
  for (const t of options.tasks) {
    for (const parent of t.parents ?? []) {
      if (!options.tasks.includes(parent))
        throw new TypeError(
          `workflow "${options.name}": task "${t.name}" names a parent "${parent.name}" declared elsewhere`,
        );
    }
  }
  return { ...options, on: options.on === undefined ? undefined : EventTriggers.parse(options.on) };
}

function dagEntryOf(t: AnyTask): { task: string; parents: string[] } {
  return { task: t.name, parents: (t.parents ?? []).map((p) => p.name) };
}

export function workflowManifestOf(w: Workflow): WorkflowManifest {
  return {
    name: w.name,
    tasks: w.tasks.map(dagEntryOf),
    ...(w.sticky ? { sticky: w.sticky } : {}),
    ...(w.on?.length ? { on: w.on } : {}),
  };
}
