// The Cloudflare adapter under Hatchet's operator, beyond the shared scenarios: Hatchet-only config, cancelled tasks that wind down.
import type { Miniflare } from 'miniflare';
import { describe, expect, it } from 'vitest';
import { assignedAction, HATCHET_SECRET, hatchetHeaders } from '../support/hatchet.ts';
import { until } from '../support/until.ts';
import { callResettable, runCloudflareExample } from './targets/cloudflare.ts';

const HATCHET_ONLY = { HATCHET_SIGNING_SECRET: HATCHET_SECRET, PUSHWORKER_LOG_LEVEL: 'error' };
const WIND_DOWN = 'test/conformance/fixtures/cloudflare-wind-down.ts';

async function post(mf: Miniflare, path: string, body: string) {
  const response = await mf.dispatchFetch(`http://worker.test${path}`, {
    method: 'POST',
    headers: hatchetHeaders(body),
    body,
  });
  return { status: response.status, json: (await response.json()) as any };
}

async function slotsUsed(mf: Miniflare): Promise<number> {
  const health = (await (await mf.dispatchFetch('http://worker.test/health')).json()) as any;
  return health.slots.used;
}

const slotsHeld = (mf: Miniflare, n: number) =>
  until(async () => (await slotsUsed(mf)) === n, `${n} slots to be held`, { everyMs: 10 });

describe('the Cloudflare adapter under Hatchet (workerd via miniflare)', () => {
  it('serves Hatchet alone when HATCHET_SIGNING_SECRET is its only key', async () => {
    const mf = await runCloudflareExample(HATCHET_ONLY);
    try {
      expect(await post(mf, '/hatchet/health', '{}')).toEqual({
        status: 200,
        json: {
          actions: [
            'order:fetchorder',
            'order:priceorder',
            'order:reservestock',
            'order:invoiceorder',
            'echo:echo',
            'sleep:sleep',
            'fail:fail',
            'onboardUser:onboarduser',
          ],
        },
      });
      const action = assignedAction('echo', 'echo', { message: 'hatchet only' });
      expect(await post(mf, '/hatchet/trigger', JSON.stringify(action))).toEqual({
        status: 200,
        json: { message: 'hatchet only' },
      });
      // No push keys: the push route is not served at all.
      expect(await post(mf, '/', '{"v":1,"assignments":[]}')).toMatchObject({
        status: 404,
        json: { error: { code: 'not_found' } },
      });
    } finally {
      await mf.dispose();
    }
  });

  it('lets a cancelled task wind down after the client is gone, then frees its slot', async () => {
    const mf = await runCloudflareExample(HATCHET_ONLY, WIND_DOWN);
    try {
      const body = JSON.stringify(assignedAction('windDown', 'windDown', {}));
      const controller = new AbortController();
      const call = { method: 'POST' as const, path: '/hatchet/trigger', headers: hatchetHeaders(body), body };
      const answer = callResettable(await mf.ready, call, controller.signal).then(
        (reply) => `answered ${reply.status}`,
        () => 'aborted',
      );
      await slotsHeld(mf, 1);
      controller.abort();
      expect(await answer).toBe('aborted');
      // The task rejects on a timer after its signal fires: only a request kept alive gets there.
      await slotsHeld(mf, 0);
    } finally {
      await mf.dispose();
    }
  });
});
