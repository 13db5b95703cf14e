// Long polls of the API: a read repeated, on each "done" signal of its id or every second, until what it reads has
// ended, the wait asked for (at most the engine's `maxWaitMs`) has passed, or the caller has gone.
import type { Context } from 'hono';
import type { EngineCore } from '../core.ts';
import { notFound } from './http.ts';

export async function longPoll<T>(
  core: EngineCore,
  c: Context,
  o: { id: string; what: string; read: () => Promise<T | undefined>; ended: (value: T) => boolean },
): Promise<T> {
  const asked = Number(c.req.query('timeoutMs') ?? core.config.maxWaitMs);
  const deadline =
    Date.now() + Math.min(Number.isFinite(asked) && asked >= 0 ? asked : 0, core.config.maxWaitMs);
  for (;;) {
    // Subscribe before reading so an end between the read and the wait is not missed.
    const remaining = deadline - Date.now();
    const wait = core.signals.waitDone(o.id, Math.max(0, Math.min(remaining, 1_000)), c.req.raw.signal);
    const value = await o.read();
    if (value === undefined) throw notFound(o.what);
    if (o.ended(value) || remaining <= 0 || c.req.raw.signal.aborted) return value;
    await wait;
  }
}
