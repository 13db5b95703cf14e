import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TaskManifest } from '../../src/protocol/schemas.ts';
import { manifestOf, task } from '../../src/worker/task.ts';

describe("a task's manifest", () => {
  it('carries the rate limits and concurrency the task declares, and neither when it declares none', () => {
    const limited = task({
      name: 'limited',
      input: z.object({ tenant: z.string() }),
      rateLimits: [
        { key: 'tenant:{input.tenant}', limit: 10, per: 'minute' },
        { key: 'api', units: 3, limit: 100, per: 5_000 },
      ],
      concurrency: { key: 'tenant:{input.tenant}', limit: 2, strategy: 'GROUP_ROUND_ROBIN' },
      run: () => null,
    });
    const manifest = manifestOf(limited);
    expect(manifest.rateLimits).toEqual([
      { key: 'tenant:{input.tenant}', limit: 10, per: 'minute' },
      { key: 'api', units: 3, limit: 100, per: 5_000 },
    ]);
    expect(manifest.concurrency).toEqual({
      key: 'tenant:{input.tenant}',
      limit: 2,
      strategy: 'GROUP_ROUND_ROBIN',
    });
    expect(TaskManifest.parse(manifest)).toEqual(manifest);

    const plain = manifestOf(task({ name: 'plain', input: z.unknown(), run: () => null }));
    expect(Object.keys(plain).sort()).toEqual(['inputSchema', 'name', 'retries', 'slotCost', 'timeoutMs']);
  });

  it('is refused by task() when a limit is not valid', () => {
    const bad = [
      { rateLimits: [{ key: 'k', limit: 0, per: 'minute' as const }] },
      { rateLimits: [{ key: 'k', limit: 1, per: 'fortnight' as 'day' }] },
      { concurrency: { key: 'k', limit: 1, strategy: 'DROP' as 'CANCEL_NEWEST' } },
      { concurrency: { key: 'user:{input.id', limit: 1 } },
    ];
    for (const options of bad) {
      expect(() => task({ name: 't', input: z.unknown(), run: () => null, ...options })).toThrow();
    }
  });

  it('carries the events a task runs on, and refuses an event name a publisher could not send', () => {
    const listening = task({
      name: 'ship',
      input: z.unknown(),
      on: ['order.created', 'billing/paid'],
      run: () => 1,
    });
    const manifest = manifestOf(listening);
    expect(manifest.on).toEqual(['order.created', 'billing/paid']);
    expect(TaskManifest.parse(manifest)).toEqual(manifest);
    expect(manifestOf(task({ name: 'deaf', input: z.unknown(), run: () => 1 })).on).toBeUndefined();
    for (const on of [['has space'], [], ['x'.repeat(201)]]) {
      expect(() => task({ name: 'bad', input: z.unknown(), on, run: () => 1 }), JSON.stringify(on)).toThrow();
    }
  });
});
