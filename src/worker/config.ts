// Worker configuration from environment variables: the same names on Node, workerd and Lambda.

import { z } from 'zod';
import { PushworkerError } from '../protocol/errors.ts';
import { DeliveryMode } from '../protocol/schemas.ts';
import type { HatchetOptions } from './hatchet.ts';
import { LOG_LEVELS } from './log.ts';

const int = (min: number) => z.coerce.number().int().min(min);

/** The variables, read into the options of `createWorker` they set. */
const WorkerEnv = z
  .object({
    PUSHWORKER_NAME: z.string().min(1).optional(),
    PUSHWORKER_SLOTS: int(1).optional(),
    PUSHWORKER_LABELS: z.string().optional(),
    PUSHWORKER_JWKS: z.string().optional(),
    PUSHWORKER_JWKS_URL: z.url().optional(),
    PUSHWORKER_SECRET: z.string().min(1).optional(),
    /** The previous secret, still accepted during a rotation. */
    PUSHWORKER_SECRET_PREVIOUS: z.string().min(1).optional(),
    PUSHWORKER_ISSUER: z.string().optional(),
    PUSHWORKER_ENGINE_URL: z.url().optional(),
    /** Comma-separated origins besides the engine URL's that assignments may name as `eventsUrl`. */
    PUSHWORKER_EVENTS_ORIGINS: z.string().optional(),
    PUSHWORKER_TOKEN: z.string().optional(),
    PUSHWORKER_URL: z.url().optional(),
    PUSHWORKER_HEARTBEAT_MS: int(10).optional(),
    PUSHWORKER_MAX_BODY_BYTES: int(1).optional(),
    PUSHWORKER_UNVERIFIED_BODY_TIMEOUT_MS: int(1).optional(),
    PUSHWORKER_MAX_UNVERIFIED_BODIES: int(1).optional(),
    PUSHWORKER_SHUTDOWN_GRACE_MS: int(0).optional(),
    PUSHWORKER_MODE: DeliveryMode.optional(),
    PUSHWORKER_LOG_LEVEL: z.enum(LOG_LEVELS).optional(),
    /** The level of each run's start and end lines (failures are logged at warn whatever this is). */
    PUSHWORKER_LOG_RUNS: z.enum(LOG_LEVELS).optional(),
    /** The lowest level of a task's own lines sent to the engine with its events. */
    PUSHWORKER_RUN_LOG_LEVEL: z.enum(LOG_LEVELS).optional(),
    /** `true`: a span per run, under the engine's push span (needs `@opentelemetry/api`). */
    PUSHWORKER_TRACING: z.stringbool().optional(),
    HATCHET_SIGNING_SECRET: z
      .string()
      .min(32, 'Hatchet signing secrets have at least 32 characters')
      .optional(),
    HATCHET_WORKFLOW_NAME: z.string().min(1).optional(),
    HATCHET_NAMESPACE: z.string().optional(),
    HATCHET_TIMESTAMP_TOLERANCE_S: int(1).optional(),
    HATCHET_REQUIRE_TIMESTAMP: z.enum(['true', 'false']).optional(),
    HATCHET_ENDPOINT_ID: z.string().min(1).optional(),
  })
  .transform((e) => {
    const secrets = [e.PUSHWORKER_SECRET, e.PUSHWORKER_SECRET_PREVIOUS].filter((s): s is string => !!s);
    return {
      name: e.PUSHWORKER_NAME,
      slots: e.PUSHWORKER_SLOTS,
      labels: e.PUSHWORKER_LABELS ? parseLabels(e.PUSHWORKER_LABELS) : undefined,
      keys: {
        jwks: e.PUSHWORKER_JWKS,
        jwksUrl: e.PUSHWORKER_JWKS_URL,
        secret: secrets.length ? secrets : undefined,
      },
      issuer: e.PUSHWORKER_ISSUER,
      engineUrl: e.PUSHWORKER_ENGINE_URL,
      eventsOrigins: e.PUSHWORKER_EVENTS_ORIGINS ? parseOrigins(e.PUSHWORKER_EVENTS_ORIGINS) : undefined,
      token: e.PUSHWORKER_TOKEN,
      url: e.PUSHWORKER_URL,
      heartbeatMs: e.PUSHWORKER_HEARTBEAT_MS,
      maxBodyBytes: e.PUSHWORKER_MAX_BODY_BYTES,
      unverifiedBodyTimeoutMs: e.PUSHWORKER_UNVERIFIED_BODY_TIMEOUT_MS,
      maxUnverifiedBodies: e.PUSHWORKER_MAX_UNVERIFIED_BODIES,
      shutdownGraceMs: e.PUSHWORKER_SHUTDOWN_GRACE_MS,
      mode: e.PUSHWORKER_MODE,
      logLevel: e.PUSHWORKER_LOG_LEVEL,
      logRuns: e.PUSHWORKER_LOG_RUNS,
      runLogLevel: e.PUSHWORKER_RUN_LOG_LEVEL,
      tracing: e.PUSHWORKER_TRACING,
      hatchet: e.HATCHET_SIGNING_SECRET
        ? ({
            signingSecret: e.HATCHET_SIGNING_SECRET,
            workflowName: e.HATCHET_WORKFLOW_NAME,
            namespace: e.HATCHET_NAMESPACE,
            timestampToleranceS: e.HATCHET_TIMESTAMP_TOLERANCE_S,
            requireTimestamp: e.HATCHET_REQUIRE_TIMESTAMP === 'true',
            endpointId: e.HATCHET_ENDPOINT_ID,
          } satisfies HatchetOptions)
        : undefined,
    };
  });

type Read = z.output<typeof WorkerEnv>;
/** What `configFromEnv` reads: every option but `keys` may be unset, so it spreads over other options. */
/** Every environment variable a worker reads its settings from. */
export const WORKER_ENV_NAMES: readonly string[] = Object.keys(WorkerEnv.in.shape);

export type WorkerConfig = Partial<Read> & Pick<Read, 'keys'>;

/** Reads `PUSHWORKER_*` variables. Throws one clear `invalid_request` error naming every bad variable. */
export function configFromEnv(env: Record<string, unknown>): WorkerConfig {
  const strings = Object.fromEntries(
    Object.entries(env).filter(([, v]) => typeof v === 'string' && v !== ''),
  );
  const parsed = WorkerEnv.safeParse(strings);
  if (!parsed.success) {
    const bad = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new PushworkerError('invalid_request', `invalid worker configuration: ${bad}`);
  }
  return parsed.data;
}

/** `gpu=a100,region=eu` or a JSON object. */
function parseLabels(text: string): Record<string, string> {
  if (text.trim().startsWith('{')) {
    const parsed = z
      .string()
      .transform((t, ctx) => {
        try {
          return JSON.parse(t) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'not JSON' });
          return z.NEVER;
        }
      })
      .pipe(z.record(z.string(), z.coerce.string()))
      .safeParse(text);
    if (parsed.success) return parsed.data;
    throw new PushworkerError('invalid_request', 'PUSHWORKER_LABELS: expected a JSON object of strings');
  }
  return Object.fromEntries(
    text
      .split(',')
      .filter(Boolean)
      .map((pair) => {
        const [k, ...v] = pair.split('=');
        return [k!.trim(), v.join('=').trim()];
      }),
  );
}

function parseOrigins(list: string): string[] {
  const origins = list
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (!URL.canParse(origin)) {
      throw new PushworkerError('invalid_request', `PUSHWORKER_EVENTS_ORIGINS: "${origin}" is not a URL`);
    }
  }
  return origins;
}
