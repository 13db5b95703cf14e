// Ports handed to child processes before they listen: distinct when taken together.
import { describe, expect, it } from 'vitest';
import { freePorts } from '../../src/cli/ports.ts';

describe('free ports', () => {
  it('hands out distinct ports when several are taken together', async () => {
    const ports = await freePorts(32);
    expect(ports).toHaveLength(32);
    expect(new Set(ports).size).toBe(32);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });
});
