// zod schemas of the event API: publishing events (one or many), and how a published event is shown.
import { z } from 'zod';
import { EventName } from './event-name.ts';
import { RunState } from './schemas.ts';
import { WorkflowRunState } from './workflows.ts';

const key = z.string().min(1).max(200);

export const PublishEventRequest = z.object({
  name: EventName,
  /** The input of every run the event enqueues. */
  payload: z.unknown().optional(),
  /** Free-form: what the event is about (an order id); listed with it, and filterable. */
  key: key.optional(),
  /** Publishing is idempotent by id: a second publish of one id answers with the first and enqueues nothing. */
  id: key.optional(),
});
export type PublishEventRequest = z.input<typeof PublishEventRequest>;

export const BulkPublishEventsRequest = z.object({ events: z.array(PublishEventRequest).min(1).max(100) });

/** A run an event enqueued, as it is now (null state: deleted by retention). */
export const EventRunView = z.object({ id: z.string(), task: z.string(), state: RunState.nullable() });

/** A workflow run an event enqueued, as it is now (null state: deleted by retention). */
export const EventWorkflowRunView = z.object({
  id: z.string(),
  workflow: z.string(),
  state: WorkflowRunState.nullable(),
});

export const EventView = z.object({
  id: z.string(),
  name: z.string(),
  key: z.string().nullable(),
  payload: z.unknown(),
  createdAt: z.string(),
  runs: z.array(EventRunView),
  workflowRuns: z.array(EventWorkflowRunView),
});
export type EventView = z.infer<typeof EventView>;

export const PublishEventResponse = EventView.extend({
  /** False when an event with this id was published before: its view is returned and nothing is enqueued. */
  created: z.boolean(),
});
export type PublishEventResponse = z.infer<typeof PublishEventResponse>;
export const BulkPublishEventsResponse = z.object({ events: z.array(PublishEventResponse) });

export const ListEventsQuery = z.object({
  name: EventName.optional(),
  key: key.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** Opaque: the `nextCursor` of the previous page. */
  cursor: z
    .string()
    .regex(/^[0-9]{1,18}$/)
    .optional(),
});
export interface ListEventsOptions {
  name?: string;
  key?: string;
  limit?: number;
  cursor?: string;
}

export const ListEventsResponse = z.object({
  events: z.array(EventView),
  nextCursor: z.string().nullable(),
});
export type ListEventsResponse = z.infer<typeof ListEventsResponse>;
