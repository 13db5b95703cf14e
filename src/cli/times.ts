// Times on the command line: durations such as `5m` or `1500ms`, and points in time such as an ISO 8601 date.
import { UsageError } from './args.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--name 5m`: a whole number with a unit (ms, s, m, h, d), or of milliseconds without one. */
export function durationOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) {
    throw new UsageError(`--${name} takes a duration such as 30s, 5m, 2h or 1d (or ms), not "${value}"`);
  }
  return Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!;
}

/** `--name TIME`: a date and time `Date.parse` reads (ISO 8601; without an offset, local time), as ISO in UTC. */
export function timeOption(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new UsageError(`--${name} takes a date and time such as 2026-12-24T18:00:00Z, not "${value}"`);
  return new Date(ms).toISOString();
}
