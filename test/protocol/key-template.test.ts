import { describe, expect, it } from 'vitest';
import { KeyTemplate, resolveKey } from '../../src/protocol/key-template.ts';
import { ConcurrencySpec, RateLimitSpec, windowMs } from '../../src/protocol/schemas.ts';

describe('key templates', () => {
  it('fill placeholders from the input and the metadata, nested and by array index', () => {
    const source = {
      input: { tenant: 'acme', user: { id: 7 }, items: ['x', 'y'], vip: true },
      metadata: { region: 'eu' },
    };
    expect(resolveKey('tenant:{input.tenant}', source)).toEqual({ key: 'tenant:acme' });
    expect(resolveKey('{input.user.id}/{input.items.1}/{input.vip}', source)).toEqual({ key: '7/y/true' });
    expect(resolveKey('{metadata.region}:{input.tenant}', source)).toEqual({ key: 'eu:acme' });
    expect(resolveKey('static', source)).toEqual({ key: 'static' });
  });

  it('name the first placeholder they cannot fill: absent, an object, null, or inherited', () => {
    const source = { input: { user: { id: 7 }, none: null } };
    expect(resolveKey('{input.tenant}', source)).toEqual({ missing: '{input.tenant}' });
    expect(resolveKey('a{input.user}b{input.x}', source)).toEqual({ missing: '{input.user}' });
    expect(resolveKey('{input.none}', source)).toEqual({ missing: '{input.none}' });
    expect(resolveKey('{input.constructor}', source)).toEqual({ missing: '{input.constructor}' });
    expect(resolveKey('{metadata.region}', source)).toEqual({ missing: '{metadata.region}' });
    expect(resolveKey('{input.a}', { input: 'a string' })).toEqual({ missing: '{input.a}' });
  });

  it('refuse braces outside a well-formed placeholder', () => {
    for (const bad of [
      '{input.tenant',
      'input.tenant}',
      '{tenant}',
      '{input}',
      '{input.}',
      '{input.a b}',
      '{{input.a}}',
      '',
    ]) {
      expect(KeyTemplate.safeParse(bad).success, bad).toBe(false);
    }
    for (const good of ['plain', 'a:{input.b}', '{input.a_b-c.0}{metadata.x}']) {
      expect(KeyTemplate.safeParse(good).success, good).toBe(true);
    }
  });
});

describe('rate limit and concurrency specs', () => {
  it('take named windows or a length in ms, and nothing else', () => {
    expect(windowMs('second')).toBe(1_000);
    expect(windowMs('day')).toBe(86_400_000);
    expect(windowMs(250)).toBe(250);
    expect(RateLimitSpec.safeParse({ key: 'k', limit: 1, per: 'week' }).success).toBe(false);
    expect(RateLimitSpec.safeParse({ key: 'k', limit: 1, per: 0 }).success).toBe(false);
    expect(RateLimitSpec.safeParse({ key: 'k', limit: 0, per: 'second' }).success).toBe(false);
    expect(RateLimitSpec.safeParse({ key: 'k', units: 0, limit: 1, per: 'second' }).success).toBe(false);
    expect(ConcurrencySpec.safeParse({ key: 'k', limit: 1, strategy: 'QUEUE_NEWEST' }).success).toBe(false);
    expect(ConcurrencySpec.safeParse({ key: 'k', limit: 1, strategy: 'GROUP_ROUND_ROBIN' }).success).toBe(
      true,
    );
  });
});
