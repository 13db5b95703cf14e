// `pushworker workflow`: enqueues a workflow run (and follows it), lists, reads and cancels workflow runs.
import type { Client, WorkflowRunView } from '../client/index.ts';
import { WorkflowRunState } from '../protocol/workflows.ts';
import {
  type Command,
  CommandFailure,
  defineCommand,
  intOption,
  jsonOption,
  type Out,
  statesOption,
  UsageError,
} from './args.ts';
import { clientFrom, connectionHelp, connectionOptions } from './connection.ts';
import { ago, table } from './format.ts';

/** Progress goes to stderr, so that stdout holds only the result a script reads. */
const note = (line: string) => process.stderr.write(`${line}\n`);

const resultOf = (run: WorkflowRunView) =>
  JSON.stringify({
    id: run.id,
    state: run.state,
    output: run.output,
    tasks: run.tasks.map((t) => ({ task: t.task, state: t.state, ...(t.error ? { error: t.error } : {}) })),
  });

const tasksLine = (run: WorkflowRunView) => run.tasks.map((t) => `${t.task} ${t.state}`).join(', ');

/**
 * Enqueues a workflow run; with `wait`, follows it (each change of its tasks on stderr) and prints its result:
 * 0 when it completed, 1 when it ended otherwise.
 */
export async function runWorkflow(
  client: Client,
  workflow: string,
  o: { input: unknown; idempotencyKey?: string | undefined; wait: boolean; timeoutMs: number },
  out: Out,
): Promise<number> {
  const enqueued = await client.runWorkflow({
    workflow,
    input: o.input,
    ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}),
  });
  if (!o.wait) {
    out(JSON.stringify({ id: enqueued.id, state: enqueued.state, created: enqueued.created }));
    return 0;
  }
  const deadline = Date.now() + o.timeoutMs;
  let run: WorkflowRunView = enqueued;
  let seen = tasksLine(run);
  note(`workflow run ${run.id}: ${seen}`);
  while (run.state === 'RUNNING' && Date.now() < deadline) {
    run = await client.waitWorkflowRun(run.id, {
      timeoutMs: Math.min(1_000, Math.max(0, deadline - Date.now())),
    });
    if (tasksLine(run) !== seen) {
      seen = tasksLine(run);
      note(`workflow run ${run.id}: ${seen}`);
    }
  }
  out(resultOf(run));
  if (run.state === 'COMPLETED') return 0;
  if (run.state !== 'RUNNING') return 1;
  throw new CommandFailure(`the workflow run ${run.id} is still RUNNING after ${o.timeoutMs} ms`);
}

export const workflow: Command = defineCommand(
  {
    usage:
      'pushworker workflow [run <workflow> [--input JSON] [--wait] | get <id> | cancel <id> | retry <id> | list [--workflow W] [--state S]] [--json]',
    summary: 'Enqueues a workflow run and follows it; lists, reads and cancels workflow runs.',
    options: {
      ...connectionOptions,
      input: { type: 'string' },
      wait: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      'idempotency-key': { type: 'string' },
      workflow: { type: 'string' },
      state: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    help: [
      '--input JSON            (run) the input every task of the run gets (default {})',
      '--wait                  (run) follow the run (on stderr) and print its result; exit 1 unless it completed',
      '--timeout-ms N          (run) how long to wait (default 60000)',
      '--idempotency-key KEY   (run) enqueue at most once per key',
      '--workflow W            (list) runs of this workflow',
      '--state S[,S]           (list) RUNNING, COMPLETED, FAILED or CANCELLED',
      '--limit N               (list) most runs shown (default 50)',
      '--json                  print JSON',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals }, out) => {
    const client = clientFrom(values);
    const [action = 'list', target] = positionals;
    if (action === 'list') {
      const limit = intOption(values.limit, 'limit');
      const page = await client.listWorkflowRuns({
        ...(values.workflow === undefined ? {} : { workflow: values.workflow }),
        ...(values.state === undefined ? {} : { state: statesOption(values.state, WorkflowRunState) }),
        ...(limit === undefined ? {} : { limit }),
      });
      if (values.json) out(JSON.stringify(page, null, 2));
      else {
        const rows = page.workflowRuns.map((r) => ({ ...r, created: ago(r.createdAt) }));
        out(table(rows, ['id', 'workflow', 'state', 'created']));
      }
      return 0;
    }
    if (!['run', 'get', 'cancel', 'retry'].includes(action))
      throw new UsageError(`unknown action "${action}": say run, get, cancel, retry or list`);
    if (!target)
      throw new UsageError(`${action} needs a ${action === 'run' ? 'workflow name' : 'workflow run id'}`);
    if (action === 'run') {
      return runWorkflow(
        client,
        target,
        {
          input: jsonOption(values.input, 'input') ?? {},
          idempotencyKey: values['idempotency-key'],
          wait: values.wait ?? false,
          timeoutMs: intOption(values['timeout-ms'], 'timeout-ms') ?? 60_000,
        },
        out,
      );
    }
    const run =
      action === 'get'
        ? await client.getWorkflowRun(target)
        : action === 'cancel'
          ? await client.cancelWorkflowRun(target)
          : await client.retryWorkflowRun(target);
    if (values.json) out(JSON.stringify(run, null, 2));
    else {
      out(`${run.id} ${run.workflow} ${run.state}`);
      const rows = run.tasks.map((t) => ({
        ...t,
        runId: t.runId ?? '-',
        parents: t.parents.join(',') || '-',
        error: t.error ? `${t.error.name}: ${t.error.message}`.slice(0, 60) : '',
      }));
      out(table(rows, ['task', 'parents', 'state', 'runId', 'error']));
    }
    return 0;
  },
);
