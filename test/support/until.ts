// Waiting in tests: on an outcome, with a deadline, never for a fixed time.

export interface UntilOptions {
  /** How long to wait; default 20 s. */
  timeoutMs?: number;
  /** How often to look; default 25 ms. */
  everyMs?: number;
  /** What to add to the failure message: the state that was there to see when the deadline passed. */
  detail?: () => unknown;
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Polls `check` until it returns a truthy value, and returns that value. Past the deadline it throws
 * `timed out after N ms waiting for <what>`, with `detail` when given. A check that throws fails at once.
 */
export async function until<T>(
  check: () => Promise<T> | T,
  what: string,
  options: UntilOptions | number = {},
): Promise<Truthy<T>> {
  const {
    timeoutMs = 20_000,
    everyMs = 25,
    detail,
  } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline) {
      const more = detail ? `; ${describe(detail())}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${more}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
