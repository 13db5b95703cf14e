// The soak worker: the Node adapter serving bookkeeping tasks that log every body execution, step execution and
// event answer.
import { appendFileSync } from 'node:fs';
import { z } from 'zod';
import { serve } from '../adapters/node.ts';
import { configFromEnv, createWorker, NonRetryableError, type TaskContext, task } from '../src/index.ts';
import { durableFlow } from './durable-tasks.ts';
import { LIMITED_RATE_LIMITS, TENANTS } from './plan.ts';

const logFile = process.env.SOAK_LOG;
if (!logFile) throw new Error('SOAK_LOG must name the bookkeeping file');
const pid = process.pid;
/** Slot units held by task bodies right now, counted here independently of the worker's own budget. */
let inUse = 0;

// Synchronous appends: a line written before a SIGKILL is on disk.
const record = (line: Record<string, unknown>) => appendFileSync(logFile, `${JSON.stringify(line)}\n`);

const Plan = z.object({
  ms: z.number().int().min(0).max(60_000),
  /** Attempts up to this one throw a retryable error. */
  failUntil: z.number().int().min(0).default(0),
  /** Throw a NonRetryableError. */
  fatal: z.boolean().default(false),
});
type Plan = z.infer<typeof Plan>;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** Runs a task body holding `cost` slot units, with a start and an end line around it. */
async function held<T>(ctx: TaskContext, cost: number, run: (nonce: string) => Promise<T>): Promise<T> {
  inUse += cost;
  const nonce = crypto.randomUUID();
  record({ e: 'start', run: ctx.runId, attempt: ctx.attempt, nonce, pid, used: inUse, cost });
  let outcome = 'failed';
  try {
    const result = await run(nonce);
    outcome = 'completed';
    return result;
  } finally {
    inUse -= cost;
    record({ e: 'end', run: ctx.runId, attempt: ctx.attempt, nonce, pid, outcome });
  }
}

function body(plan: Plan, ctx: TaskContext, cost: number) {
  return held(ctx, cost, async (nonce) => {
    await pause(plan.ms, ctx.signal);
    if (plan.fatal) throw new NonRetryableError('soak: a fatal failure');
    if (ctx.attempt <= plan.failUntil) throw new Error('soak: a transient failure');
    return { run: ctx.runId, attempt: ctx.attempt, nonce };
  });
}

const tasks = [
  task({ name: 'soak', input: Plan, retries: 3, run: (plan, ctx) => body(plan, ctx, 1) }),
  task({ name: 'soak-heavy', input: Plan, retries: 3, slotCost: 2, run: (plan, ctx) => body(plan, ctx, 2) }),
  // The runs the soak's cron schedule enqueues, one a tick.
  task({ name: 'soak-tick', input: Plan, retries: 3, run: (plan, ctx) => body(plan, ctx, 1) }),
  task({
    name: 'soak-limited',
    input: Plan.extend({ tenant: z.enum(TENANTS) }),
    retries: 3,
    rateLimits: [...LIMITED_RATE_LIMITS],
    run: (plan, ctx) => body(plan, ctx, 1),
  }),
];
// The durable workflow, and the plain task its last task runs as a child.
const child = task({ name: 'soak-child', input: Plan, retries: 3, run: (plan, ctx) => body(plan, ctx, 1) });
const flow = durableFlow({ child, held, record: (line) => record({ ...line, pid }) });

/** Records the engine's answer to every terminal event this worker posts. */
const answeringFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (url.endsWith('/v1/events') && response.ok && typeof init?.body === 'string') {
    const results = ((await response.clone().json()) as { results?: string[] }).results ?? [];
    const events = (
      JSON.parse(init.body) as {
        events: { type: string; runId: string; attempt: number; output?: { nonce?: string } }[];
      }
    ).events;
    events.forEach((event, i) => {
      if (event.type !== 'completed' && event.type !== 'failed') return;
      record({
        e: 'answer',
        run: event.runId,
        attempt: event.attempt,
        type: event.type,
        result: results[i],
        nonce: event.output?.nonce,
        pid,
      });
    });
  }
  return response;
};

const config = configFromEnv(process.env);
const worker = createWorker({
  ...config,
  name: config.name!,
  tasks: [...tasks, child],
  workflows: [flow],
  fetch: answeringFetch,
});
await serve(worker, { port: Number(process.env.PORT), hostname: '127.0.0.1' });
