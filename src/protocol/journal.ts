// A durable run's journal: what its steps returned and where it suspended, sent back to it in each assignment.
import { z } from 'zod';

/** Most entries one run's journal holds: a loop of steps without end is refused, not stored for ever. */
export const MAX_JOURNAL_ENTRIES = 1_000;
/** A worker's body limit unless it sets its own (`PUSHWORKER_MAX_BODY_BYTES`): 1 MiB. */
export const DEFAULT_WORKER_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Most bytes (UTF-8, as JSON) a run's journal reaches through its steps: half a worker's default body limit, so
 * that the assignment carrying it, with its input and the other assignments of its push, still gets through.
 */
export const MAX_JOURNAL_BYTES = DEFAULT_WORKER_MAX_BODY_BYTES / 2;
/** The error name of a run failed because a step would have grown its journal past `MAX_JOURNAL_BYTES`. */
export const JOURNAL_TOO_LARGE = 'JournalTooLarge';

/** UTF-8 bytes of a value as JSON. */
export function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

/** Bytes one entry adds to a journal's JSON: its name, a colon, the entry, a comma. */
export function entryBytes(name: string, entry: JournalEntry): number {
  return jsonBytes(name) + jsonBytes(entry) + 2;
}
/** The longest a durable run sleeps, or waits for an event, at once: a year. */
export const MAX_SUSPEND_MS = 365 * 24 * 3600_000;

const entryName = z.string().min(1).max(200);
const isoTime = z.iso.datetime({ offset: true });

/** An event a waiting run received, as published. */
export const ReceivedEvent = z.object({
  id: z.string(),
  name: z.string(),
  key: z.string().nullable(),
  payload: z.unknown(),
});
export type ReceivedEvent = z.infer<typeof ReceivedEvent>;

export const JournalEntry = z.discriminatedUnion('kind', [
  /** `ctx.step`: the function's result, returned without running it again. */
  z.object({ kind: z.literal('step'), output: z.unknown() }),
  /** `ctx.sleep`: the run slept until `until`; on the next push the sleep is over. */
  z.object({ kind: z.literal('sleep'), until: isoTime }),
  /** `ctx.waitFor`: the event it received, or none (`received` absent) when `until` came first. */
  z.object({
    kind: z.literal('wait'),
    event: z.string(),
    until: isoTime,
    received: ReceivedEvent.optional(),
  }),
  /** `ctx.runChild`: the child run waited on, and how it ended (`result` absent: `until` came first). */
  z.object({
    kind: z.literal('child'),
    runId: z.string(),
    until: isoTime,
    result: z
      .object({
        state: z.enum(['COMPLETED', 'FAILED', 'CANCELLED']),
        output: z.unknown(),
        error: z.unknown(),
      })
      .optional(),
  }),
]);
export type JournalEntry = z.infer<typeof JournalEntry>;

export const Journal = z.record(entryName, JournalEntry);
export type Journal = z.infer<typeof Journal>;

/** Where a durable run stopped: an entry to record, and when (or on which event) to push it again. */
export const Suspension = z.object({
  entry: entryName,
  /** When the sleep ends, or the wait times out. */
  until: isoTime,
  /** Set for a wait: the event name, and a subset of the payload the event must contain. */
  event: z
    .object({ name: z.string().min(1).max(200), filter: z.record(z.string(), z.unknown()).optional() })
    .optional(),
  /** Set for a child run waited on: the run, spawned before the suspension. */
  child: z.object({ runId: z.string().min(1).max(200) }).optional(),
});
export type Suspension = z.infer<typeof Suspension>;
