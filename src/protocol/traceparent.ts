// The W3C Trace Context `traceparent` (version 00): how a trace travels from the enqueue through the push.
import { z } from 'zod';

/** `00-<trace id>-<parent span id>-<flags>`, lower-case hex; all-zero ids are invalid. */
export const Traceparent = z
  .string()
  .regex(
    /^00-(?!0{32}-)[0-9a-f]{32}-(?!0{16}-)[0-9a-f]{16}-[0-9a-f]{2}$/,
    'a W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>',
  );
