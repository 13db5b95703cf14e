// What each soak run is asked to do, drawn from a seeded generator, and the outcome it must end with.
import type { EnqueueRequest } from '../src/client/index.ts';
import type { Expected } from './check.ts';

/** mulberry32: a small seeded generator, so a failing soak can be replayed with `--seed`. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 70 % succeed at once, 15 % after one or two transient failures, 5 % fail for good, 10 % always transient. */
export function plan(random: () => number): { request: EnqueueRequest; expected: Expected } {
  const roll = random();
  const ms = random() < 0.02 ? 800 + Math.floor(random() * 1_200) : Math.floor(random() * 40);
  const task = random() < 0.1 ? 'soak-heavy' : 'soak';
  let input: { ms: number; failUntil?: number; fatal?: boolean } = { ms };
  let expected: Expected = 'COMPLETED';
  if (roll < 0.15) input = { ms, failUntil: 1 + Math.floor(random() * 2) };
  else if (roll < 0.2) {
    input = { ms, fatal: true };
    expected = 'FAILED';
  } else if (roll < 0.3) {
    input = { ms, failUntil: 1_000 };
    expected = 'FAILED';
  }
  return { request: { task, input }, expected };
}

/**
 * The soak's cron schedule: a tick every two seconds (six fields, seconds first), each a short run of `soak-tick`.
 * Two, not one: an engine late by more than a tick's interval while up skips to the latest tick by policy, which
 * the audit would count as lost, and a loaded machine has been seen nearly a second late.
 */
export const SCHEDULE = {
  name: 'soak-tick',
  task: 'soak-tick',
  cron: '*/2 * * * * *',
  input: { ms: 5 },
  missed: 'latest',
} as const;

/** The tenants the rate-limited runs are spread over (each its own key of `soak-tenant:{input.tenant}`). */
export const TENANTS = ['t0', 't1', 't2'] as const;

/**
 * The rate limits of `soak-limited` (worker.ts declares them): a static key all its runs share, and a key per
 * tenant from the input that takes two units a run. Together they start about 8 runs a second.
 */
export const LIMITED_RATE_LIMITS = [
  { key: 'soak-limited', limit: 8, per: 'second' },
  { key: 'soak-tenant:{input.tenant}', units: 2, limit: 10, per: 1_500 },
] as const;

/** A rate-limited run: the same mix of outcomes as `plan`, on `soak-limited`, for one of the tenants. */
export function planLimited(random: () => number): { request: EnqueueRequest; expected: Expected } {
  const { request, expected } = plan(random);
  const tenant = TENANTS[Math.floor(random() * TENANTS.length)]!;
  return {
    request: { task: 'soak-limited', input: { ...(request.input as object), tenant } },
    expected,
  };
}

/**
 * The durable workflow: `a` → (`b`, `c`) → `d`. `b` sleeps between two steps; `c` waits for the wake event of its
 * workflow run (`filter: { flow }`), which the soak publishes for some runs once the wait has begun, the others
 * timing out; `d` reads both parents and runs a child. Every task's work is in steps the books record.
 */
export const DURABLE_FLOW = {
  workflow: 'soak-flow',
  tasks: { a: 'soak-flow-a', b: 'soak-flow-b', c: 'soak-flow-c', d: 'soak-flow-d' },
  child: 'soak-child',
  wakeEvent: 'soak.wake',
  sleepMs: 300,
} as const;

/**
 * The load's priority: below the default, so that the workflows' task runs, each enqueued as its parents end,
 * start among the load rather than behind all of it, that is, under the faults.
 */
export const LOAD_PRIORITY = -1;

/** Workflow run `i` of `n` is enqueued once this share of the load has ended: spread over the faults. */
export const flowEnqueuedAt = (i: number, n: number) => (0.6 * i) / n;

export interface FlowPlan {
  input: { flow: string; waitMs: number };
  /** Whether the soak publishes the event `c` waits for. */
  wake: boolean;
}

/**
 * Half the waits are woken, with a timeout long enough for the soak to see the wait begin and publish through an
 * engine restart; the others time out after one to four seconds, long enough that some are under way when the
 * engine stops (`suspended_across_restart`).
 */
export function planFlow(random: () => number, i: number): FlowPlan {
  const wake = random() < 0.5;
  return { input: { flow: `flow-${i}`, waitMs: wake ? 15_000 : 1_000 + Math.floor(random() * 3_000) }, wake };
}
