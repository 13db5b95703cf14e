// When an enqueued run is due and when it expires in the queue, from its request's delay and deadline.
import { type EnqueueRequest, MAX_DELAY_MS } from '../../protocol/api.ts';
import { PushworkerError } from '../../protocol/errors.ts';

export interface RunTimes {
  /** Epoch ms from which the run may be claimed. */
  availableAt: number;
  /** Epoch ms by which it must be first assigned, or null. */
  expiresAt: number | null;
}

type Timing = Pick<EnqueueRequest, 'runAt' | 'delayMs' | 'expiresAt' | 'scheduleTimeoutMs'>;

/**
 * A `runAt` in the past is due now. `scheduleTimeoutMs` counts from the due time, so a delayed run gets its whole
 * wait once due; an `expiresAt` must come after the due time.
 */
export function runTimesOf(request: Timing, now: number): RunTimes {
  const asked = request.runAt !== undefined ? Date.parse(request.runAt) : now + (request.delayMs ?? 0);
  const availableAt = Math.max(now, asked);
  if (availableAt - now > MAX_DELAY_MS) {
    throw new PushworkerError(
      'too_far_ahead',
      `a run may be delayed by at most ${MAX_DELAY_MS} ms (a year); this one is due ${new Date(asked).toISOString()}`,
    );
  }
  const expiresAt =
    request.expiresAt !== undefined
      ? Date.parse(request.expiresAt)
      : request.scheduleTimeoutMs !== undefined
        ? availableAt + request.scheduleTimeoutMs
        : null;
  if (expiresAt === null) return { availableAt, expiresAt };
  if (expiresAt <= availableAt) {
    throw new PushworkerError(
      'invalid_request',
      `expiresAt (${new Date(expiresAt).toISOString()}) is not after the run is due (${new Date(availableAt).toISOString()})`,
    );
  }
  if (expiresAt - availableAt > MAX_DELAY_MS) {
    throw new PushworkerError(
      'too_far_ahead',
      `a run's queue deadline may be at most ${MAX_DELAY_MS} ms (a year) after it is due`,
    );
  }
  return { availableAt, expiresAt };
}
