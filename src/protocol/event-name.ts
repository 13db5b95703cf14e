// The name of a published event, as tasks list it in `on:` and publishers send it.
import { z } from 'zod';

/** Letters, digits and `_ . : / -`, as `order.created` or `billing/invoice.paid`: safe in a URL and a shell. */
export const EventName = z
  .string()
  .regex(/^[A-Za-z0-9_.:/-]{1,200}$/, 'event names use 1 to 200 letters, digits and _ . : / -');

/** The events a task (or workflow) runs on: each publish of one of them enqueues a run of it. */
export const EventTriggers = z.array(EventName).min(1).max(20);
