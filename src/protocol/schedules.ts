// zod schemas of the schedule API: creating a cron schedule, and how one is shown.
import { z } from 'zod';
import { CronExpression, DEFAULT_TIME_ZONE, TimeZone } from './cron.ts';

/** Schedule names are safe in a URL path and a shell: letters, digits and `_ . : -`. */
export const ScheduleName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'schedule names use 1 to 200 letters, digits and _ . : -');

/** `code`: declared by a task in a worker's manifest; `api`: created through the API. */
export const ScheduleSource = z.enum(['code', 'api']);
export type ScheduleSource = z.infer<typeof ScheduleSource>;

/**
 * What a schedule does with the ticks that passed while no engine fired them (downtime): `latest` runs the latest
 * of them once and skips the older; `backfill` runs each of them, oldest first, up to `backfillLimit` (the latest).
 */
export const MissedTicks = z.enum(['latest', 'backfill']);
export type MissedTicks = z.infer<typeof MissedTicks>;

export const DEFAULT_BACKFILL_LIMIT = 100;

export const CreateScheduleRequest = z.object({
  name: ScheduleName,
  task: z.string().min(1).max(200),
  input: z.unknown().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  cron: CronExpression,
  timezone: TimeZone.default(DEFAULT_TIME_ZONE),
  missed: MissedTicks.default('latest'),
  backfillLimit: z.number().int().min(1).max(1000).default(DEFAULT_BACKFILL_LIMIT),
  /** Create it paused: it fires nothing until resumed. */
  paused: z.boolean().default(false),
});
export type CreateScheduleRequest = z.input<typeof CreateScheduleRequest>;

export const ScheduleView = z.object({
  name: z.string(),
  task: z.string(),
  input: z.unknown(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  cron: z.string(),
  timezone: z.string(),
  missed: MissedTicks,
  backfillLimit: z.number().int(),
  paused: z.boolean(),
  source: ScheduleSource,
  /** The latest tick that enqueued a run. */
  lastTickAt: z.string().nullable(),
  /** The tick due next; null while paused (resuming counts from then) or when the expression fires no more. */
  nextTickAt: z.string().nullable(),
  createdAt: z.string(),
});
export type ScheduleView = z.infer<typeof ScheduleView>;
export const SchedulesResponse = z.object({ schedules: z.array(ScheduleView) });
export const DeleteScheduleResponse = z.object({ name: z.string(), deleted: z.literal(true) });
