// Hatchet's HTTP operator ("Serverless Endpoints"): HMAC-signed health check and trigger routes on the worker.
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { timingSafeEqual } from '../auth/hash.ts';
import { issuesOf, PushworkerError } from '../protocol/errors.ts';
import type { TaskError } from '../protocol/schemas.ts';
import { deferTo } from './defer-to.ts';
import { parseJsonBody } from './json-body.ts';
import type { Runner } from './runner.ts';
import type { AnyTask } from './task.ts';
import type { Workflow } from './workflow.ts';

export interface HatchetOptions {
  /** The endpoint's `signingSecret` in Hatchet. */
  signingSecret: string;
  /** Registers every task under this workflow; by default a task is its own (standalone) workflow. */
  workflowName?: string;
  /** Prefix Hatchet puts before workflow names (the client's namespace). */
  namespace?: string;
  /** Accepted age of `X-Hatchet-Timestamp`, in seconds; default 300. */
  timestampToleranceS?: number;
  /**
   * Refuse a request without `X-Hatchet-Timestamp` (default false, for operators that do not send it yet). Without
   * the header a captured request can be replayed for as long as its run is not in the recent-runs memory.
   */
  requireTimestamp?: boolean;
  /**
   * The endpoint's id in Hatchet: a request whose `X-Hatchet-Endpoint-Id` is missing or another is refused 403
   * `wrong_endpoint`. Unset, the header is not checked.
   */
  endpointId?: string;
}

/** Hatchet refuses answers larger than this; a task whose output is larger fails instead. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

const AssignedAction = z.object({
  actionId: z.string().min(1),
  taskRunExternalId: z.string().min(1).max(200),
  actionPayload: z.string(),
  retryCount: z.number().int().min(0).default(0),
  additionalMetadata: z.string().optional(),
  tenantId: z.string().optional(),
  workflowRunId: z.string().optional(),
  taskName: z.string().optional(),
  actionType: z.string().optional(),
});

/** A DAG task's payload carries its parents' outputs, keyed by their task names. */
const Payload = z.object({ input: z.unknown(), parents: z.record(z.string(), z.unknown()).optional() });

/**
 * `<workflow name>:<task name lower-cased>`, as Hatchet names actions. A workflow's task is under the workflow's
 * name; a task alone is under `workflowName`, or its own name (Hatchet's standalone task).
 */
export function actionIdOf(
  t: AnyTask,
  options: Pick<HatchetOptions, 'workflowName' | 'namespace'>,
  workflow?: Workflow,
): string {
  return `${options.namespace ?? ''}${workflow?.name ?? options.workflowName ?? t.name}:${t.name.toLowerCase()}`;
}

/** Every action this endpoint serves: each workflow's tasks, then the tasks in no workflow. */
function actionsOf(tasks: AnyTask[], workflows: Workflow[], options: HatchetOptions): [string, AnyTask][] {
  const inWorkflows = new Set(workflows.flatMap((w) => w.tasks));
  return [
    ...workflows.flatMap((w) => w.tasks.map((t): [string, AnyTask] => [actionIdOf(t, options, w), t])),
    ...tasks.filter((t) => !inWorkflows.has(t)).map((t): [string, AnyTask] => [actionIdOf(t, options), t]),
  ];
}

export function mountHatchet(
  app: Hono,
  options: HatchetOptions,
  deps: {
    tasks: AnyTask[];
    workflows: Workflow[];
    runner: Runner;
    refuseWhenStopping: () => void;
    /** The body, read within the limits for bodies not verified yet: the HMAC covers it. */
    readBody: (c: Context) => Promise<Uint8Array>;
  },
): void {
  const served = actionsOf(deps.tasks, deps.workflows, options);
  const actions = new Map(served.map(([id, t]) => [id.toLowerCase(), t]));
  const key = crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(options.signingSecret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );

  const verified = async (c: Context): Promise<Uint8Array> => {
    const signature = c.req.header('x-hatchet-signature');
    if (!signature)
      throw new PushworkerError('bad_signature', 'the request has no X-Hatchet-Signature header');
    const body = await deps.readBody(c);
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await key, body as Uint8Array<ArrayBuffer>));
    const expected = Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
    if (!timingSafeEqual(signature.toLowerCase(), expected)) {
      throw new PushworkerError('bad_signature', 'the X-Hatchet-Signature does not match the body');
    }
    // The header is not covered by the MAC: it tells a request meant for another endpoint, it proves nothing.
    if (options.endpointId !== undefined && c.req.header('x-hatchet-endpoint-id') !== options.endpointId) {
      throw new PushworkerError('wrong_endpoint', 'the X-Hatchet-Endpoint-Id does not name this endpoint');
    }
    const timestamp = c.req.header('x-hatchet-timestamp');
    if (timestamp === undefined && options.requireTimestamp) {
      throw new PushworkerError(
        'bad_signature',
        'the request has no X-Hatchet-Timestamp header, which is required',
      );
    }
    if (timestamp !== undefined) {
      const age = Math.abs(Date.now() / 1000 - Number(timestamp));
      if (!(age <= (options.timestampToleranceS ?? 300))) {
        throw new PushworkerError('expired', 'the X-Hatchet-Timestamp is outside the accepted window');
      }
    }
    return body;
  };

  app.post('/hatchet/health', async (c) => {
    await verified(c);
    return c.json({ actions: served.map(([id]) => id) });
  });

  app.post('/hatchet/trigger', async (c) => {
    deps.refuseWhenStopping();
    const action = parseAction(await verified(c), options.endpointId);
    const t = actions.get(action.actionId.toLowerCase());
    if (!t) throw new PushworkerError('unknown_action', `this endpoint does not serve "${action.actionId}"`);

    const ref = { runId: action.taskRunExternalId, attempt: action.retryCount + 1 };
    const { started, rejected } = deps.runner.admit(
      [
        {
          ...ref,
          task: t.name,
          input: action.input,
          slotCost: 1,
          metadata: action.metadata,
          ...(action.parents ? { parents: action.parents } : {}),
          ...(action.workflowRunId ? { workflowRunId: action.workflowRunId } : {}),
        },
      ],
      { reportEvents: false },
    );
    const refusal = rejected[0];
    if (refusal?.reason === 'invalid_input') {
      throw new PushworkerError('invalid_input', 'the input does not match the task schema', refusal.issues);
    }
    if (refusal?.reason === 'no_slot') {
      c.header('retry-after', '1');
      throw new PushworkerError('no_slot', 'every slot is taken');
    }
    if (refusal) throw new PushworkerError('conflict', 'this task run is already running here');

    // workerd drops a request whose client has gone, and with it every step a task takes after its
    // signal fires (a timer, a fetch rejecting): the task would never return nor free its slot.
    deferTo(c, started[0]!.settled);
    // Hatchet cancels a run by aborting the request (on workerd, `enable_request_signal` makes that visible).
    const { signal } = c.req.raw;
    const onAbort = () => deps.runner.cancel([ref]);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const result = await started[0]!.result;
    signal.removeEventListener('abort', onAbort);
    if (result?.status === 'completed') return answerOutput(c, result.output);
    if (result?.status === 'suspended') {
      throw taskFailure({
        name: 'SuspendUnsupported',
        message: "a durable task cannot sleep or wait under Hatchet's HTTP protocol",
        retryable: false,
      });
    }
    throw taskFailure(result?.error ?? { name: 'Stale', message: 'the run was abandoned', retryable: true });
  });
}

/**
 * A completed task's answer: 204 when it returned nothing, else its output as JSON, which Hatchet takes up to
 * `MAX_ANSWER_BYTES`: a larger output fails the task, without being sent.
 */
function answerOutput(c: Context, output: unknown): Response {
  if (output === undefined || output === null) return c.body(null, 204);
  const bytes = encoder.encode(JSON.stringify(output));
  if (bytes.length > MAX_ANSWER_BYTES) {
    throw taskFailure({
      name: 'OutputTooLarge',
      message: `the task output is ${bytes.length} bytes of JSON, over Hatchet's limit of ${MAX_ANSWER_BYTES}`,
      retryable: false,
    });
  }
  return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/json' });
}

/** Hatchet retries a 500 and not a 422: a failure is answered by whether it may be retried. */
function taskFailure(error: TaskError): PushworkerError {
  return new PushworkerError(error.retryable ? 'task_failed' : 'task_failed_final', error.message, error);
}

const encoder = new TextEncoder();

function parseAction(bytes: Uint8Array, endpointId: string | undefined) {
  const action = AssignedAction.safeParse(parseJsonBody(bytes));
  if (!action.success) {
    throw new PushworkerError('invalid_request', 'the body is not an AssignedAction', issuesOf(action.error));
  }
  const payload = Payload.safeParse(safeJson(action.data.actionPayload));
  if (!payload.success)
    throw new PushworkerError('invalid_request', 'actionPayload is not a JSON object with input');
  const extra = safeJson(action.data.additionalMetadata ?? '{}');
  const { tenantId, workflowRunId, actionId, taskName } = action.data;
  return {
    ...action.data,
    input: payload.data.input,
    parents: payload.data.parents,
    metadata: {
      ...(extra && typeof extra === 'object' ? extra : {}),
      // Hatchet tells endpoints to key side effects on (endpoint id, task run id, retry count).
      hatchet: { tenantId, workflowRunId, actionId, taskName, endpointId },
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
