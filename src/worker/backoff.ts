// The wait before a worker calls the engine again after failed calls; a sleep that an AbortSignal cuts short.

/**
 * The wait before retrying a call to the engine (an event post, a registration, a heartbeat) after
 * `failures` failed calls in a row: `min(maxMs, baseMs × 2^failures)` times a random factor in [0.5, 1].
 * Not a run's retry delay (the engine's `runRetryDelayMs`), which waits at most `baseMs` after a first
 * failure, as documented.
 */
export function callRetryDelayMs(failures: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(failures, 20));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
