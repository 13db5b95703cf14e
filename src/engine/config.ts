// Engine configuration: one zod schema, read from options or from the environment.
import { z } from 'zod';
import { PushworkerError } from '../protocol/errors.ts';
import { MAX_ANSWER_WITHIN_MS } from '../protocol/schemas.ts';

/** A whole number above 0, from a string too; the key says its unit (`…Ms`, `…Bytes`) or that it counts. */
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const EngineConfig = z.object({
  /** Postgres connection string; the embedded PGlite store is used when absent. */
  databaseUrl: z.string().min(1).optional(),
  /** PGlite data directory; in memory when absent (tests). */
  dataDir: z.string().min(1).optional(),
  /** The engine's public base URL, used for the `eventsUrl` of assignments. */
  publicUrl: z.url().optional(),
  /** `iss` of every push. */
  engineId: z.string().min(1).default('pushworker-engine'),
  /** Static API tokens accepted besides minted ones (bootstrap). */
  apiTokens: z.array(z.string().min(16)).default([]),
  /** A private JWK (JSON) to sign with instead of a generated, persisted key. */
  signingKey: z.string().min(1).optional(),
  /**
   * Keys (32 bytes, base64url) that seal generated private signing keys in the store: the first seals, each
   * opens. Without one, private keys are stored as they are, in a store only the engine's user can read.
   */
  keyEncryptionKeys: z.array(z.string().min(1)).default([]),
  /** A shared HS256 secret to sign with instead of a key pair. */
  secret: z.string().min(16).optional(),
  leaseMs: positiveInt(30_000),
  workerTimeoutMs: positiveInt(30_000),
  /** An INACTIVE or STOPPED worker holding no run, silent this long, is removed (default a day). */
  workerExpiryMs: positiveInt(24 * 3600_000),
  sweepIntervalMs: positiveInt(1_000),
  /**
   * Finished runs (COMPLETED, FAILED, CANCELLED) are deleted, with their attempts, this long after they finished
   * (default 7 days); 0 keeps every run.
   */
  retentionMs: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600_000),
  /** Most finished runs one delete statement of the sweeper takes; a sweep runs at most 10 of them. */
  retentionBatchSize: positiveInt(1_000),
  pollIntervalMs: positiveInt(1_000),
  retryBaseMs: positiveInt(1_000),
  retryMaxMs: positiveInt(300_000),
  /** A run pushed this many times without a result fails (lost leases, dead workers). */
  maxDeliveries: positiveInt(20),
  /** Largest batch in one push. */
  batchSize: positiveInt(100),
  /** How long a push may take, answer included; sync (serverless) workers answer when their tasks end. */
  pushTimeoutMs: positiveInt(900_000),
  /**
   * How long a worker may hold a push's answer for runs that end quickly, carrying their events in it in place of
   * posting them (see docs/protocol.md, "Events in the answer"); 0 asks every worker to post its events.
   */
  answerWithinMs: z.coerce.number().int().min(0).max(MAX_ANSWER_WITHIN_MS).default(10),
  /** How long a cancel push, a manifest pull or a `/health` read may take, answer included. */
  outboundTimeoutMs: positiveInt(10_000),
  /**
   * Largest answer read from a worker URL; a larger one is cut off there. A sync worker's answer carries the
   * results an events post would, so the default matches the API's body limit.
   */
  maxAnswerBytes: positiveInt(4 * 1024 * 1024),
  /** Let worker URLs be, or resolve to, loopback, private or link-local addresses (local set-ups, tests). */
  allowPrivateTargets: z.union([z.boolean(), z.stringbool()]).default(false),
  /** How long a rotated-out key stays published. */
  keyRetireMs: positiveInt(24 * 3600_000),
  /** Longest wait a client may ask of `GET /v1/runs/:id/wait`. */
  maxWaitMs: positiveInt(60_000),
  /**
   * The cron loop sleeps until the next due tick, and at most this long: a schedule created or resumed on another
   * replica is seen within it.
   */
  schedulePollMs: positiveInt(5_000),
  poolSize: positiveInt(10),
  /** Largest request body the API reads; larger ones answer 413 `too_large`. */
  maxBodyBytes: positiveInt(4 * 1024 * 1024),
  /**
   * Records OpenTelemetry spans (the enqueue, time in the queue, the push) through the globally registered tracer
   * provider, and passes each run's trace to its worker; needs `@opentelemetry/api`. Off, that package is never
   * loaded, and a traceparent given at the enqueue is passed on as it is.
   */
  tracing: z.union([z.boolean(), z.stringbool()]).default(false),
});
export type EngineConfig = z.infer<typeof EngineConfig>;
export type EngineConfigInput = z.input<typeof EngineConfig>;

const ENV: Record<string, keyof EngineConfig> = {
  PUSHWORKER_DATABASE_URL: 'databaseUrl',
  DATABASE_URL: 'databaseUrl',
  PUSHWORKER_DATA_DIR: 'dataDir',
  PUSHWORKER_PUBLIC_URL: 'publicUrl',
  PUSHWORKER_ENGINE_ID: 'engineId',
  PUSHWORKER_SIGNING_KEY: 'signingKey',
  PUSHWORKER_SECRET: 'secret',
  PUSHWORKER_LEASE_MS: 'leaseMs',
  PUSHWORKER_WORKER_TIMEOUT_MS: 'workerTimeoutMs',
  PUSHWORKER_WORKER_EXPIRY_MS: 'workerExpiryMs',
  PUSHWORKER_SWEEP_INTERVAL_MS: 'sweepIntervalMs',
  PUSHWORKER_RETENTION_MS: 'retentionMs',
  PUSHWORKER_RETENTION_BATCH_SIZE: 'retentionBatchSize',
  PUSHWORKER_POLL_INTERVAL_MS: 'pollIntervalMs',
  PUSHWORKER_RETRY_BASE_MS: 'retryBaseMs',
  PUSHWORKER_RETRY_MAX_MS: 'retryMaxMs',
  PUSHWORKER_MAX_DELIVERIES: 'maxDeliveries',
  PUSHWORKER_BATCH_SIZE: 'batchSize',
  PUSHWORKER_PUSH_TIMEOUT_MS: 'pushTimeoutMs',
  PUSHWORKER_ANSWER_WITHIN_MS: 'answerWithinMs',
  PUSHWORKER_OUTBOUND_TIMEOUT_MS: 'outboundTimeoutMs',
  PUSHWORKER_MAX_ANSWER_BYTES: 'maxAnswerBytes',
  PUSHWORKER_ALLOW_PRIVATE_TARGETS: 'allowPrivateTargets',
  PUSHWORKER_SCHEDULE_POLL_MS: 'schedulePollMs',
  PUSHWORKER_POOL_SIZE: 'poolSize',
  PUSHWORKER_API_MAX_BODY_BYTES: 'maxBodyBytes',
  PUSHWORKER_TRACING: 'tracing',
};

/** Every environment variable the engine reads its settings from. */
export const ENGINE_ENV_NAMES: readonly string[] = [
  ...Object.keys(ENV),
  'PUSHWORKER_API_TOKENS',
  'PUSHWORKER_API_TOKEN',
  'PUSHWORKER_KEY_ENCRYPTION_KEYS',
];

/** Reads the engine's environment variables (`PUSHWORKER_API_TOKENS` and `PUSHWORKER_KEY_ENCRYPTION_KEYS` are comma-separated). */
export function engineConfigFromEnv(env: Record<string, string | undefined>): EngineConfig {
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const value = env[name];
    if (value !== undefined && value !== '' && raw[key] === undefined) raw[key] = value;
  }
  const list = (value: string) =>
    value
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
  if (env.PUSHWORKER_KEY_ENCRYPTION_KEYS) raw.keyEncryptionKeys = list(env.PUSHWORKER_KEY_ENCRYPTION_KEYS);
  const tokens = env.PUSHWORKER_API_TOKENS ?? env.PUSHWORKER_API_TOKEN;
  if (tokens) raw.apiTokens = list(tokens);
  const named: Record<string, string> = {
    keyEncryptionKeys: 'PUSHWORKER_KEY_ENCRYPTION_KEYS',
    apiTokens: env.PUSHWORKER_API_TOKENS === undefined ? 'PUSHWORKER_API_TOKEN' : 'PUSHWORKER_API_TOKENS',
  };
  for (const [name, key] of Object.entries(ENV))
    if (env[name] !== undefined && env[name] !== '') named[key] ??= name;
  return parseEngineConfig(raw, (key) => named[key] ?? key);
}

/**
 * The engine's settings from options, or one clear `invalid_request` naming every bad setting (by `nameOf`: its
 * environment variable when it came from one), as the worker's configuration is refused.
 */
export function parseEngineConfig(
  raw: unknown,
  nameOf: (key: string) => string = (key) => key,
): EngineConfig {
  const parsed = EngineConfig.safeParse(raw);
  if (parsed.success) return parsed.data;
  const bad = parsed.error.issues
    .map((i) => `${[nameOf(String(i.path[0] ?? '')), ...i.path.slice(1)].join('.')}: ${i.message}`)
    .join('; ');
  throw new PushworkerError('invalid_request', `invalid engine configuration: ${bad}`);
}
