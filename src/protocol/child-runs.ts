// Child runs on the wire: a running run enqueues a run of another task, keyed by the parent and a key.
import { z } from 'zod';

const name = z.string().min(1).max(200);

/** Body of `POST /v1/runs/{id}/children`, sent with the worker token of the worker running attempt `attempt`. */
export const SpawnChildRequest = z.object({
  attempt: z.number().int().min(1),
  /** Unique within the parent: the same key answers the same child, however often it is asked for. */
  key: name,
  task: name,
  input: z.unknown().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type SpawnChildRequest = z.infer<typeof SpawnChildRequest>;

export const SpawnChildResponse = z.object({ runId: z.string(), created: z.boolean() });
export type SpawnChildResponse = z.infer<typeof SpawnChildResponse>;

/** The idempotency key of a parent's child run. */
export const childRunKey = (parentRunId: string, key: string) => `child:${parentRunId}:${key}`;
