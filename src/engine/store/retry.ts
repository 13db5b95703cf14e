// The retry rule for a failed attempt: FAILED for good, or QUEUED again after a growing, jittered wait.
import type { TaskError } from '../../protocol/schemas.ts';
import type { RunRecord } from './records.ts';

export interface RetryPolicy {
  /** Wait before the first retry; doubles per failure up to `maxMs` (see `runRetryDelayMs`). */
  baseMs: number;
  maxMs: number;
}

/**
 * The wait before a run's next attempt after its `failures`-th failure:
 * `min(maxMs, baseMs × 2^(failures − 1))` times a random factor in [0.5, 1], in whole ms (docs/protocol.md,
 * "Retries and back-off").
 */
export function runRetryDelayMs(failures: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

/** What a failed attempt changes on its run. */
export interface FailedAttempt {
  failures: number;
  /** True when the run is FAILED for good. */
  final: boolean;
  state: 'FAILED' | 'QUEUED';
  availableAt: number;
  finishedAt: number | null;
}

/**
 * The error name of an attempt that its worker gave up because it was shutting down (a reload, SIGTERM past the
 * grace period): the task did not fail, so the run goes back to the queue at once and no failure is counted.
 */
export const WORKER_SHUTDOWN = 'WorkerShutdown';

/**
 * Fails for good when the error is not retryable or the failures now exceed the retries; else backs off. An
 * attempt ended by its worker's shutdown is queued again at once, without counting a failure (the delivery cap
 * still bounds a run that meets one shutdown after another).
 */
export function failedAttempt(
  run: Pick<RunRecord, 'failures' | 'retries' | 'availableAt'>,
  error: TaskError,
  now: number,
  retry: RetryPolicy,
): FailedAttempt {
  if (error.name === WORKER_SHUTDOWN && error.retryable) {
    return { failures: run.failures, final: false, state: 'QUEUED', availableAt: now, finishedAt: null };
  }
  const failures = run.failures + 1;
  const final = !error.retryable || failures > (run.retries ?? 0);
  return {
    failures,
    final,
    state: final ? 'FAILED' : 'QUEUED',
    availableAt: final ? run.availableAt : now + runRetryDelayMs(failures, retry),
    finishedAt: final ? now : null,
  };
}
