// The soak's durable workflow (plan.ts describes it): each step's function writes a book line before it returns,
// so that the audit can tell every execution of a step from the result the journal recorded.
import { z } from 'zod';
import { type Task, type TaskContext, task, workflow } from '../src/index.ts';
import { DURABLE_FLOW } from './plan.ts';

const FlowInput = z.object({ flow: z.string(), waitMs: z.number().int().min(0).max(60_000) });

/** What a step returns, and so what its journal entry holds: which execution produced it. */
export interface StepOutput {
  step: string;
  attempt: number;
  nonce: string;
  [extra: string]: unknown;
}

export interface DurableDeps {
  // biome-ignore lint/suspicious/noExplicitAny: the child task, whatever its input.
  child: Task<any, unknown>;
  /** Runs a task body holding its slot units, with its start and end lines (worker.ts). */
  held: <T>(ctx: TaskContext, cost: number, run: (nonce: string) => Promise<T>) => Promise<T>;
  record: (line: Record<string, unknown>) => void;
}

export function durableFlow({ child, held, record }: DurableDeps) {
  const step = (ctx: TaskContext, name: string, extra: Record<string, unknown> = {}) =>
    ctx.step(name, (): StepOutput => {
      const nonce = crypto.randomUUID();
      record({ e: 'step', run: ctx.runId, attempt: ctx.attempt, step: name, nonce });
      return { step: name, attempt: ctx.attempt, nonce, ...extra };
    });
  const t = DURABLE_FLOW.tasks;
  const a = task({
    name: t.a,
    input: FlowInput,
    retries: 3,
    run: (_, ctx) => held(ctx, 1, () => step(ctx, 'a')),
  });
  const b = task({
    name: t.b,
    input: FlowInput,
    retries: 3,
    parents: [a],
    run: (_, ctx) =>
      held(ctx, 1, async () => {
        await step(ctx, 'b1');
        await ctx.sleep(DURABLE_FLOW.sleepMs);
        return step(ctx, 'b2');
      }),
  });
  const c = task({
    name: t.c,
    input: FlowInput,
    retries: 3,
    parents: [a],
    run: ({ flow, waitMs }, ctx) =>
      held(ctx, 1, async () => {
        const woken = await ctx.waitFor(DURABLE_FLOW.wakeEvent, { timeoutMs: waitMs, filter: { flow } });
        return step(ctx, 'c', { received: woken?.id ?? null });
      }),
  });
  const d = task({
    name: t.d,
    input: FlowInput,
    retries: 3,
    slotCost: 2,
    parents: [b, c],
    run: ({ flow }, ctx) =>
      held(ctx, 2, async () => {
        const parents = { b: (await ctx.parentOutput(b)).nonce, c: (await ctx.parentOutput(c)).received };
        const made = await ctx.runChild(child, { ms: 20 }, { key: `child-of-${flow}` });
        return step(ctx, 'd', { parents, child: (made as { nonce?: string }).nonce ?? null });
      }),
  });
  return workflow({ name: DURABLE_FLOW.workflow, tasks: [a, b, c, d] });
}
