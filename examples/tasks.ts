// The example tasks and workflow served by every example worker (Node, Cloudflare, Lambda).
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

export const tasks = [echo, sleep, fail];

export const workflows = [order];
