// What the dispatcher says of a push that did not go through: the error of a refused assignment, the cause of no answer.
import type { Rejection, TaskError } from '../protocol/schemas.ts';
import { AnswerTooLarge, DeadlinePassed, PrivateTarget } from './outbound/failures.ts';
import { pushLimitOf } from './push-batches.ts';
import type { WorkerRecord } from './store/records.ts';

/** The error that fails an attempt its worker refused; none for refusals that only re-queue it (no_slot, duplicate). */
export function rejectionError(worker: WorkerRecord, r: Rejection): TaskError | undefined {
  if (r.reason === 'invalid_input') {
    const message = `the worker rejected the input: ${JSON.stringify(r.issues ?? [])}`;
    return { name: 'InvalidInput', message, retryable: false };
  }
  if (r.reason === 'unknown_task') {
    return {
      name: 'UnknownTask',
      message: `worker "${worker.name}" does not serve this task`,
      retryable: true,
    };
  }
  if (r.reason === 'untrusted_events_url') {
    const message =
      `worker "${worker.name}" does not trust this engine's events URL: set its PUSHWORKER_ENGINE_URL to the ` +
      "engine's public URL, or add that origin to PUSHWORKER_EVENTS_ORIGINS";
    return { name: 'UntrustedEventsUrl', message, retryable: true };
  }
  return undefined;
}

/** A run whose assignment alone is over the worker's body limit: no push can carry it, so it is not retried. */
export function oversizedError(worker: WorkerRecord, bytes: number): TaskError {
  const message =
    `its push would be ${bytes} bytes, over the body limit of ${pushLimitOf(worker)} bytes of worker "${worker.name}" ` +
    '(PUSHWORKER_MAX_BODY_BYTES): pass a reference to large data, not the data';
  return { name: 'AssignmentTooLarge', message, retryable: false };
}

/**
 * Why a push got no usable answer, said with the worker's URL: an answer over the byte cap, a deadline passed, a
 * private address refused, or the connection's error code (ECONNREFUSED, ECONNRESET).
 */
export function unreachable(error: unknown, url: string): string {
  if (error instanceof AnswerTooLarge)
    return `answer from ${url} over ${error.maxBytes} bytes (PUSHWORKER_MAX_ANSWER_BYTES), cut off`;
  if (error instanceof DeadlinePassed)
    return `no whole answer from ${url} within ${error.deadlineMs} ms (PUSHWORKER_PUSH_TIMEOUT_MS)`;
  if (error instanceof PrivateTarget) return `${url} refused: ${error.message}`;
  return `no answer from ${url} (${transportCode(error)})`;
}

/** A transport error's code (ECONNREFUSED, ECONNRESET), or its message when it has none. */
export function transportCode(error: unknown): string {
  const { code, message } = ((error as { cause?: unknown }).cause ?? error) as {
    code?: string;
    message?: string;
  };
  return code ?? message ?? String(error);
}
