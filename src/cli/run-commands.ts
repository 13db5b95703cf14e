// Commands for runs: enqueue one (and follow it), list, read, cancel and retry.
import type { RunView } from '../client/index.ts';
import { DeadReason, RetryableRunState } from '../protocol/api.ts';
import { RunState } from '../protocol/schemas.ts';
import {
  type Command,
  CommandFailure,
  defineCommand,
  intOption,
  jsonOption,
  statesOption,
  UsageError,
} from './args.ts';
import { clientFrom, connectionHelp, connectionOptions } from './connection.ts';
import { ago, table } from './format.ts';
import { durationOption, timeOption } from './times.ts';
import { runWorkflow } from './workflow-commands.ts';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** Progress goes to stderr, so that stdout holds only the result a script reads. */
const note = (line: string) => process.stderr.write(`${line}\n`);

/** `--dead R[,R]`, each a dead reason. */
function deadOption(value: string): DeadReason[] {
  const reasons = value.split(',').map((s) => s.trim().toLowerCase());
  const bad = reasons.filter((r) => !DeadReason.safeParse(r).success);
  if (bad.length > 0)
    throw new UsageError(`--dead takes ${DeadReason.options.join(', ')}, not ${bad.join(', ')}`);
  return reasons as DeadReason[];
}

const resultOf = (run: RunView) =>
  JSON.stringify({
    id: run.id,
    state: run.state,
    attempt: run.attempt,
    output: run.output,
    error: run.error,
  });

export const run: Command = defineCommand(
  {
    usage:
      'pushworker run <task|workflow> [--input JSON] [--wait] [--timeout-ms N] [--idempotency-key KEY] [--priority N] [--delay D | --at TIME] [--schedule-timeout D]',
    summary:
      'Enqueues a run of a task, or a workflow run when a worker declares a workflow of that name; with --wait, follows it and prints its result.',
    options: {
      ...connectionOptions,
      input: { type: 'string' },
      wait: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      'idempotency-key': { type: 'string' },
      priority: { type: 'string' },
      delay: { type: 'string' },
      at: { type: 'string' },
      'schedule-timeout': { type: 'string' },
    },
    help: [
      '--input JSON            the task input (default {})',
      '--wait                  follow the run (on stderr) and print its result; exit 1 unless it completed',
      '--timeout-ms N          how long to wait (default 60000)',
      '--idempotency-key KEY   enqueue at most once per key',
      '--priority N            higher runs first',
      '--delay D               not due for D (30s, 5m, 2h, 1d; at most a year)',
      '--at TIME               not due before TIME (ISO 8601, e.g. 2026-12-24T18:00:00Z)',
      '--schedule-timeout D    fail (ScheduleTimeout) unless started within D of being due',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals }, out) => {
    const [task] = positionals;
    if (!task) throw new UsageError('a task name is needed');
    const client = clientFrom(values);
    const priority = intOption(values.priority, 'priority');
    const timeoutMs = intOption(values['timeout-ms'], 'timeout-ms') ?? 60_000;
    const input = jsonOption(values.input, 'input') ?? {};
    // Every option is checked before the engine is asked anything: a mistake is said the same with no engine up.
    if (values.delay !== undefined && values.at !== undefined)
      throw new UsageError('give --delay or --at, not both');
    const delayMs = durationOption(values.delay, 'delay');
    const runAt = timeOption(values.at, 'at');
    const scheduleTimeoutMs = durationOption(values['schedule-timeout'], 'schedule-timeout');
    if ((await workflowsOf(client)).some((w) => w.name === task)) {
      const taskOnly = ['priority', 'delay', 'at', 'schedule-timeout'].filter(
        (o) => values[o as 'at'] !== undefined,
      );
      if (taskOnly.length > 0)
        throw new UsageError(`"${task}" is a workflow: a workflow run takes no --${taskOnly.join(' or --')}`);
      const idempotencyKey = values['idempotency-key'];
      return runWorkflow(client, task, { input, idempotencyKey, wait: values.wait ?? false, timeoutMs }, out);
    }
    const enqueued = await client.enqueue({
      task,
      input,
      ...(values['idempotency-key'] ? { idempotencyKey: values['idempotency-key'] } : {}),
      ...(priority === undefined ? {} : { priority }),
      ...(delayMs === undefined ? {} : { delayMs }),
      ...(runAt === undefined ? {} : { runAt }),
      ...(scheduleTimeoutMs === undefined ? {} : { scheduleTimeoutMs }),
    });
    for (const warning of enqueued.warnings ?? []) note(`pushworker: warning: ${warning}`);
    if (!values.wait) {
      out(JSON.stringify({ id: enqueued.id, state: enqueued.state, created: enqueued.created }));
      return 0;
    }
    note(`run ${enqueued.id}: ${stateLine(enqueued)}`);
    const done = await follow(client, enqueued, timeoutMs, (r) => note(`run ${r.id}: ${stateLine(r)}`));
    out(resultOf(done));
    if (done.state === 'COMPLETED') return 0;
    if (TERMINAL.has(done.state)) return 1;
    throw new CommandFailure(`the run ${done.id} is still ${done.state} after ${timeoutMs} ms`);
  },
);

/** The workflows the engine knows; none from an engine that predates them (it has no such route). */
async function workflowsOf(client: ReturnType<typeof clientFrom>) {
  try {
    return await client.listWorkflows();
  } catch (error) {
    if ((error as { code?: string }).code === 'not_found') return [];
    throw error;
  }
}

function stateLine(r: RunView): string {
  const attempt = r.attempt > 0 ? ` (attempt ${r.attempt})` : '';
  return `${r.state}${attempt}${r.waitingFor ? `: ${r.waitingFor}` : ''}`;
}

/** Long-polls in short steps, calling `changed` whenever the state (or its attempt) moves. */
async function follow(
  client: ReturnType<typeof clientFrom>,
  from: RunView,
  timeoutMs: number,
  changed: (run: RunView) => void,
): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  let seen = stateLine(from);
  let run = from;
  while (!TERMINAL.has(run.state) && Date.now() < deadline) {
    run = await client.waitRun(run.id, { timeoutMs: Math.min(1_000, Math.max(0, deadline - Date.now())) });
    if (stateLine(run) !== seen) {
      seen = stateLine(run);
      changed(run);
    }
  }
  return run;
}

export const runs: Command = defineCommand(
  {
    usage:
      'pushworker runs [--state S[,S]] [--dead [R[,R]]] [--task T] [--worker ID] [--limit N] [--cursor C] [--json]',
    summary: 'Lists runs, newest first, by state, task or worker; a page at a time.',
    options: {
      ...connectionOptions,
      state: { type: 'string' },
      task: { type: 'string' },
      worker: { type: 'string' },
      dead: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      json: { type: 'boolean' },
    },
    help: [
      '--state S[,S]   QUEUED, ASSIGNED, RUNNING, COMPLETED, FAILED or CANCELLED',
      '--task T        runs of this task',
      '--worker ID     runs held or last run by this worker',
      '--dead R[,R]    dead runs: expired (not started by their deadline), exhausted (failed for good)',
      '--limit N       a page of N runs (default 50, at most 500)',
      '--cursor C      the next page, as printed below the previous one',
      '--json          print JSON',
      ...connectionHelp,
    ],
  },
  async ({ values }, out) => {
    const page = await clientFrom(values).listRuns({
      ...(values.state ? { state: statesOption(values.state, RunState) } : {}),
      ...(values.task ? { task: values.task } : {}),
      ...(values.worker ? { worker: values.worker } : {}),
      ...(values.dead ? { dead: deadOption(values.dead) } : {}),
      ...(values.limit ? { limit: intOption(values.limit, 'limit') } : {}),
      ...(values.cursor ? { cursor: values.cursor } : {}),
    });
    if (values.json) {
      out(JSON.stringify(page, null, 2));
      return 0;
    }
    const rows = page.runs.map((r) => ({
      id: r.id,
      task: r.task,
      state: r.state,
      attempt: r.attempt,
      worker: r.workerId ?? '-',
      created: ago(r.createdAt),
      error: r.error ? `${r.error.name}: ${r.error.message}`.slice(0, 60) : '',
    }));
    out(table(rows, ['id', 'task', 'state', 'attempt', 'worker', 'created', 'error']));
    if (page.nextCursor) out(`more: pushworker runs --cursor ${page.nextCursor}`);
    return 0;
  },
);

export const get: Command = defineCommand(
  {
    usage: 'pushworker get <run id>',
    summary: 'Prints a run as JSON: input, output, error, and every attempt.',
    options: { ...connectionOptions },
    help: [...connectionHelp],
  },
  async ({ values, positionals }, out) => {
    const [id] = positionals;
    if (!id) throw new UsageError('a run id is needed');
    out(JSON.stringify(await clientFrom(values).getRun(id), null, 2));
    return 0;
  },
);

export const cancel: Command = defineCommand(
  {
    usage: 'pushworker cancel <run id>',
    summary: 'Cancels a queued or running run (a running one is told to stop).',
    options: { ...connectionOptions },
    help: [...connectionHelp],
  },
  async ({ values, positionals }, out) => {
    const [id] = positionals;
    if (!id) throw new UsageError('a run id is needed');
    const r = await clientFrom(values).cancel(id);
    out(`run ${r.id} is ${r.state}`);
    return r.state === 'CANCELLED' ? 0 : 1;
  },
);

export const retry: Command = defineCommand(
  {
    usage: 'pushworker retry (<run id> | --state S[,S] | --dead R[,R]) [--task T] [--limit N]',
    summary: 'Queues finished runs again with a fresh retry budget: one by id, or those a filter selects.',
    options: {
      ...connectionOptions,
      state: { type: 'string' },
      dead: { type: 'string' },
      task: { type: 'string' },
      limit: { type: 'string' },
    },
    help: [
      'run id          one run that has finished (failed, cancelled or completed)',
      '--state S[,S]   every run in these finished states (FAILED, CANCELLED, COMPLETED)',
      '--dead R[,R]    dead runs: expired, exhausted, or both (FAILED runs, unless --state says more)',
      '--task T        only runs of this task',
      '--limit N       at most N runs (default 100, at most 1000)',
      ...connectionHelp,
    ],
  },
  async ({ values, positionals }, out) => {
    const [id] = positionals;
    const client = clientFrom(values);
    if (id) {
      if (values.state || values.task || values.dead)
        throw new UsageError('give a run id or a filter, not both');
      const r = await client.retryRun(id);
      out(`run ${r.id} is ${r.state} again`);
      return 0;
    }
    if (!values.state && !values.dead) throw new UsageError('a run id, --state or --dead is needed');
    const limit = intOption(values.limit, 'limit');
    const { runs: retried } = await client.retryRuns({
      ...(values.state ? { state: statesOption(values.state, RetryableRunState) } : {}),
      ...(values.dead ? { dead: deadOption(values.dead) } : {}),
      ...(values.task ? { task: values.task } : {}),
      ...(limit === undefined ? {} : { limit }),
    });
    out(`${retried.length} runs queued again`);
    for (const r of retried) out(r.id);
    return 0;
  },
);
