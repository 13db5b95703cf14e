// The example tasks, a durable one among them, and the workflow served by every example worker (Node, Cloudflare,
// Lambda).
import { z } from 'zod';
import { NonRetryableError, task } from '../src/index.ts';
import { order } from './order.ts';

export const echo = task({
  name: 'echo',
  input: z.object({ message: z.string() }),
  run: ({ message }) => ({ message }),
});

export const sleep = task({
  name: 'sleep',
  input: z.object({ ms: z.number().int().min(0).max(3_600_000) }),
  timeoutMs: 3_600_000,
  run: ({ ms }, ctx) =>
    new Promise<{ sleptMs: number }>((resolve, reject) => {
      ctx.signal.throwIfAborted();
      const timer = setTimeout(() => resolve({ sleptMs: ms }), ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    }),
});

export const fail = task({
  name: 'fail',
  input: z.object({ message: z.string(), retryable: z.boolean().optional() }),
  retries: 2,
  run: ({ message, retryable }) => {
    throw retryable === false ? new NonRetryableError(message) : new Error(message);
  },
});

/** How long a new user has to verify their email before onboarding sends a reminder instead of a welcome. */
export const VERIFY_WITHIN_MS = 2_000;

/**
 * A durable task: the account is created once, and after a short grace period the run waits, holding no slot,
 * for the user to verify; a verified user is welcomed by a child run of `echo` and activated, the others reminded.
 */
export const onboardUser = task({
  name: 'onboardUser',
  input: z.object({ userId: z.string().min(1) }),
  run: async ({ userId }, ctx) => {
    // Each step's timestamp is taken once: a later push returns the recorded one.
    const account = await ctx.step('create-account', () => ({
      accountId: `acct-${userId}`,
      createdAt: new Date().toISOString(),
    }));
    await ctx.sleep(300);
    const verified = await ctx.waitFor('user.verified', { timeoutMs: VERIFY_WITHIN_MS, filter: { userId } });
    if (!verified) {
      const reminder = await ctx.step('remind', () => ({ remindedAt: new Date().toISOString() }));
      return { ...account, verified: false as const, ...reminder };
    }
    const welcome = await ctx.runChild(echo, { message: `welcome, ${userId}` });
    const activation = await ctx.step('activate', () => ({ activatedAt: new Date().toISOString() }));
    return {
      ...account,
      verified: true as const,
      verifiedBy: verified.id,
      welcome: welcome.message,
      ...activation,
    };
  },
});

export const tasks = [echo, sleep, fail, onboardUser];

export const workflows = [order];
