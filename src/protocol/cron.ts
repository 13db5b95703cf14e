// Cron expressions and time zones: what a schedule accepts (croner parses), and the ticks an expression gives.
import { Cron } from 'croner';
import { z } from 'zod';

/**
 * Five fields (minute hour day-of-month month day-of-week) or six (seconds first), as croner reads them with
 * `mode: '5-or-6-parts'`: a seven-field expression (years) is refused, and so is a date, which croner would
 * otherwise take as a one-off run. Day of month and day of week combine with OR, as in Vixie cron.
 */
const CRON_OPTIONS = { mode: '5-or-6-parts' } as const;

/** The time zone a schedule reads its expression in unless it names one. */
export const DEFAULT_TIME_ZONE = 'UTC';

/** Why `expression` is not one a schedule accepts, or undefined when it is. */
function cronMistake(expression: string): string | undefined {
  try {
    const cron = new Cron(expression, CRON_OPTIONS);
    if (cron.getPattern() === undefined) return 'a date, not a cron expression';
    if (cron.nextRun(new Date(0)) === null) return 'a cron expression that never fires';
    return undefined;
  } catch (error) {
    return `not a cron expression: ${(error as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** Whether `zone` is an IANA time zone name that this runtime knows (`UTC`, `Europe/Paris`); offsets are not. */
function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const CronExpression = z
  .string()
  .min(1)
  .max(200)
  .superRefine((expression, ctx) => {
    const mistake = cronMistake(expression);
    if (mistake) ctx.addIssue({ code: 'custom', message: `"${expression}" is ${mistake}` });
  });

/** The cron expressions one task declares. */
export const TaskCron = z.array(CronExpression).max(20);

export const TimeZone = z
  .string()
  .min(1)
  .max(100)
  .refine(isTimeZone, { message: 'not an IANA time zone name (such as UTC or Europe/Paris)' });

/** The ticks of an expression read in a time zone; both were accepted by `CronExpression` and `TimeZone`. */
export class CronTicks {
  private readonly cron: Cron;

  constructor(expression: string, timeZone: string = DEFAULT_TIME_ZONE) {
    // UTC as an offset gives the same ticks as the zone, a few times faster (no Intl conversion per step).
    const zone = timeZone === 'UTC' ? { utcOffset: 0 } : { timezone: timeZone };
    this.cron = new Cron(expression, { ...CRON_OPTIONS, ...zone });
  }

  /** The first tick strictly after `at` (ms), or null when there is none. */
  after(at: number): number | null {
    return this.cron.nextRun(new Date(at))?.getTime() ?? null;
  }

  /** The latest `n` ticks from `from` to `to` (ms, both included), oldest first. */
  latest(n: number, from: number, to: number): number[] {
    return this.cron
      .previousRuns(n, new Date(to + 1))
      .map((d) => d.getTime())
      .filter((t) => t >= from)
      .reverse();
  }
}
