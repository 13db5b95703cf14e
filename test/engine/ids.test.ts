// Time-ordered ids: RFC 9562 version 7 layout, distinct, and ordered as text by the time they were made.
import { describe, expect, it } from 'vitest';
import { newRunId, uuidv7 } from '../../src/engine/ids.ts';

describe('uuidv7', () => {
  it('lays out the time, the version and the variant as RFC 9562 says', () => {
    const at = Date.UTC(2026, 11, 3, 6, 0, 0, 123);
    const id = uuidv7(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });

  it('orders ids as text by the ms they were made in, and never repeats one', () => {
    const start = Date.now();
    const ids = Array.from({ length: 2_000 }, (_, i) => uuidv7(start + Math.floor(i / 10)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 10; i < ids.length; i += 10) expect(ids[i - 10]! < ids[i]!).toBe(true);
    expect(newRunId()).toMatch(/^run_[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });
});
