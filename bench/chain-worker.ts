// The benchmark's workflow worker: the example tasks, a three-task chain (first, then second, then third), each
// passing its parent's output on, so that a workflow run measures the engine's hand-offs and not the tasks, and a
// durable task that sleeps once and says when it resumed, for the wake-up's lateness.
import { z } from 'zod';
import { serve } from '../adapters/node.ts';
import { tasks } from '../examples/tasks.ts';
import { configFromEnv, createWorker, task, workflow } from '../src/index.ts';

const Input = z.object({ n: z.number() });
const first = task({ name: 'chain.first', input: Input, run: ({ n }) => ({ n }) });
const second = task({
  name: 'chain.second',
  input: Input,
  parents: [first],
  run: async (_input, ctx) => ({ n: (await ctx.parentOutput(first)).n + 1 }),
});
const third = task({
  name: 'chain.third',
  input: Input,
  parents: [second],
  run: async (_input, ctx) => ({ n: (await ctx.parentOutput(second)).n + 1 }),
});
/** Sleeps `ms`, then returns when it resumed by this process's clock; the due time is the journal's `sleep:1`. */
const nap = task({
  name: 'durable.nap',
  input: z.object({ ms: z.number() }),
  run: async ({ ms }, ctx) => {
    await ctx.sleep(ms);
    return { resumedAt: Date.now() };
  },
});
const chain = workflow({ name: 'chain', tasks: [first, second, third] });

const config = configFromEnv(process.env);
const worker = createWorker({
  ...config,
  name: config.name ?? 'bench',
  tasks: [...tasks, nap],
  workflows: [chain],
});
await serve(worker, { port: Number(process.env.PORT ?? 0), hostname: process.env.HOST || '127.0.0.1' });
