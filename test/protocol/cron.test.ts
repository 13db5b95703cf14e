// The ticks of cron expressions: bounds of `after` and `latest`, UTC as an offset, and time zones across DST.
import { describe, expect, it } from 'vitest';
import { CronExpression, CronTicks, TimeZone } from '../../src/protocol/cron.ts';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('cron ticks', () => {
  it('counts a tick at `to` in `latest` and not in `after`, oldest first', () => {
    const hourly = new CronTicks('0 * * * *');
    const noon = at('2027-01-01T12:00:00.000Z');
    expect(iso(hourly.after(noon))).toBe('2027-01-01T13:00:00.000Z');
    expect(iso(hourly.after(noon - 1))).toBe('2027-01-01T12:00:00.000Z');
    expect(hourly.latest(3, noon - 2 * 3600_000, noon).map(iso)).toEqual([
      '2027-01-01T10:00:00.000Z',
      '2027-01-01T11:00:00.000Z',
      '2027-01-01T12:00:00.000Z',
    ]);
    expect(hourly.latest(10, noon - 3600_000 + 1, noon + 1800_000).map(iso)).toEqual([
      '2027-01-01T12:00:00.000Z',
    ]);
  });

  it('reads an expression in its time zone, across daylight saving time', () => {
    const paris = new CronTicks('30 2 * * *', 'Europe/Paris');
    // 2:30 does not exist on 2027-03-28 in Paris: the tick is the first valid time after the gap, 3:00 CEST.
    expect(iso(paris.after(at('2027-03-27T12:00:00Z')))).toBe('2027-03-28T01:00:00.000Z');
    // 2:30 happens twice on 2027-10-31: it ticks once.
    const autumn = paris.latest(5, at('2027-10-30T12:00:00Z'), at('2027-11-01T12:00:00Z')).map(iso);
    expect(autumn).toEqual(['2027-10-31T00:30:00.000Z', '2027-11-01T01:30:00.000Z']);
    expect(iso(new CronTicks('0 9 * * *', 'UTC').after(at('2027-07-01T00:00:00Z')))).toBe(
      '2027-07-01T09:00:00.000Z',
    );
  });

  it('accepts what a schedule may hold and refuses the rest', () => {
    for (const ok of ['*/5 * * * *', '0 */5 * * * *', '@daily', '@weekly', '0 12 L * *', '0 12 ? * MON#2']) {
      expect(CronExpression.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of [
      '',
      '* * *',
      '60 * * * *',
      '0 0 0 1 1 * 2030',
      '2030-01-01T00:00:00Z',
      '0 0 30 2 *',
      '@reboot',
    ]) {
      expect(CronExpression.safeParse(bad).success, bad).toBe(false);
    }
    expect(TimeZone.safeParse('America/New_York').success).toBe(true);
    for (const bad of ['Mars/Olympus', '+01:00', 'UTC+1', ''])
      expect(TimeZone.safeParse(bad).success, bad).toBe(false);
  });
});
