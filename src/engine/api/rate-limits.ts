// Rate limit routes: read every key's limit and window, and set a limit that overrides the declared one.
import { Hono } from 'hono';
import { RateLimitKey, type RateLimitView, SetRateLimitRequest } from '../../protocol/api.ts';
import { issuesOf, PushworkerError } from '../../protocol/errors.ts';
import { windowMs } from '../../protocol/schemas.ts';
import type { EngineCore } from '../core.ts';
import { overrideRateLimit, type RateLimitRecord, readRateLimits } from '../store/rate-limits.ts';
import { parseBody, requireApi } from './http.ts';

const iso = (ms: number) => new Date(ms).toISOString();

function rateLimitView(l: RateLimitRecord): RateLimitView {
  const pair = (limit: number | null, perMs: number | null) =>
    limit === null || perMs === null ? null : { limit, perMs };
  return {
    key: l.key,
    limit: l.limit,
    perMs: l.perMs,
    declared: pair(l.declaredLimit, l.declaredPerMs),
    override: pair(l.overrideLimit, l.overridePerMs),
    window: { start: iso(l.windowStart), end: iso(l.windowStart + l.perMs), used: l.used },
  };
}

export function rateLimitRoutes(core: EngineCore): Hono {
  const app = new Hono();
  app.get('/v1/rate-limits', async (c) => {
    await requireApi(core, c);
    const limits = await readRateLimits(core.sql, null, Date.now());
    return c.json({ rateLimits: limits.map(rateLimitView) });
  });

  app.put('/v1/rate-limits/:key', async (c) => {
    await requireApi(core, c);
    const key = RateLimitKey.safeParse(c.req.param('key'));
    if (!key.success) {
      throw new PushworkerError('invalid_request', 'a rate limit key has 1 to 200 characters', {
        issues: issuesOf(key.error),
      });
    }
    const request = await parseBody(c, SetRateLimitRequest);
    const now = Date.now();
    await overrideRateLimit(core.sql, key.data, request.limit, windowMs(request.per), now);
    // The dispatcher may now start runs the old limit held back.
    core.signals.wake();
    const [limit] = await readRateLimits(core.sql, [key.data], now);
    return c.json(rateLimitView(limit!));
  });
  return app;
}
