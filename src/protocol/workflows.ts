// Workflow runs in the engine's API: enqueue, views and lists.
import { z } from 'zod';
import { RunState, TaskError } from './schemas.ts';
import { WorkflowManifest } from './workflow-manifest.ts';

export { dagProblem, topologicalOrder, WorkflowManifest, WorkflowTaskManifest } from './workflow-manifest.ts';

/** A workflow run's state: RUNNING until every task run has ended. */
export const WorkflowRunState = z.enum(['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED']);
export type WorkflowRunState = z.infer<typeof WorkflowRunState>;

const key = z.string().min(1).max(200);

/** Body of `POST /v1/workflow-runs`. */
export const WorkflowEnqueueRequest = z.object({
  workflow: key,
  input: z.unknown().optional(),
  idempotencyKey: key.optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type WorkflowEnqueueRequest = z.input<typeof WorkflowEnqueueRequest>;

/** One task of a workflow run: its run once it has one (`PENDING` while a parent has not completed). */
export const WorkflowTaskView = z.object({
  task: z.string(),
  parents: z.array(z.string()),
  state: z.union([RunState, z.literal('PENDING')]),
  runId: z.string().nullable(),
  output: z.unknown().optional(),
  error: TaskError.optional(),
});
export type WorkflowTaskView = z.infer<typeof WorkflowTaskView>;

export const WorkflowRunView = z.object({
  id: z.string(),
  workflow: z.string(),
  state: WorkflowRunState,
  input: z.unknown(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  idempotencyKey: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Each completed task's output, by task name. */
  output: z.record(z.string(), z.unknown()),
  tasks: z.array(WorkflowTaskView),
});
export type WorkflowRunView = z.infer<typeof WorkflowRunView>;

export const WorkflowEnqueueResponse = WorkflowRunView.extend({ created: z.boolean() });
export type WorkflowEnqueueResponse = z.infer<typeof WorkflowEnqueueResponse>;

export const ListWorkflowRunsQuery = z.object({
  workflow: key.optional(),
  state: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(WorkflowRunState))
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .regex(/^[0-9]{1,18}$/)
    .optional(),
});
export interface ListWorkflowRunsOptions {
  workflow?: string;
  state?: WorkflowRunState | WorkflowRunState[];
  limit?: number;
  cursor?: string;
}

/** A page of workflow runs, newest first, without their tasks (read one run for those). */
export const ListWorkflowRunsResponse = z.object({
  workflowRuns: z.array(WorkflowRunView.omit({ tasks: true, output: true })),
  nextCursor: z.string().nullable(),
});
export type ListWorkflowRunsResponse = z.infer<typeof ListWorkflowRunsResponse>;

export const WorkflowsResponse = z.object({ workflows: z.array(WorkflowManifest) });
