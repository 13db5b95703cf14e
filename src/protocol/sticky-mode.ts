// How a sticky key binds runs to a worker.
import { z } from 'zod';

/** `soft`: the bound worker while it has room; `hard`: the bound worker while it lives. */
export const StickyMode = z.enum(['soft', 'hard']);
export type StickyMode = z.infer<typeof StickyMode>;
