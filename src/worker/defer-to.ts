// Work that must outlive the response: handed to the runtime's `waitUntil` where there is one (workerd).
import type { Context } from 'hono';

/** True when the runtime took `work`; false where there is no `waitUntil` (Node, Lambda). */
export function deferTo(c: Context, work: Promise<unknown>): boolean {
  let ctx: { waitUntil?(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    return false;
  }
  if (typeof ctx?.waitUntil !== 'function') return false;
  ctx.waitUntil(work);
  return true;
}
