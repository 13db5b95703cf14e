// The benchmark's workflow worker: the example tasks and a three-task chain (first, then second, then third), each
// passing its parent's output on, so that a workflow run measures the engine's hand-offs and not the tasks.
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
const chain = workflow({ name: 'chain', tasks: [first, second, third] });

const config = configFromEnv(process.env);
const worker = createWorker({ ...config, name: config.name ?? 'bench', tasks, workflows: [chain] });
await serve(worker, { port: Number(process.env.PORT ?? 0), hostname: process.env.HOST || '127.0.0.1' });
