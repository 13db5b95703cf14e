// The rate limits and concurrency of runs being enqueued: the enqueue's own and the task's, keys resolved.
import type { z } from 'zod';
import type { EnqueueRequest } from '../protocol/api.ts';
import { PushworkerError } from '../protocol/errors.ts';
import { resolveKey } from '../protocol/key-template.ts';
import { type ConcurrencyStrategy, windowMs } from '../protocol/schemas.ts';
import type { TaskDeclarations } from './declarations.ts';
import { type DeclaredLimit, declareRateLimits, knownRateLimitKeys } from './store/rate-limits.ts';
import type { RateLimitUse } from './store/records.ts';
import type { SqlClient } from './store/sql.ts';

type Request = z.infer<typeof EnqueueRequest>;

export interface RunLimits {
  rateLimits: RateLimitUse[];
  concurrency: { key: string; limit: number; strategy: ConcurrencyStrategy | undefined } | undefined;
}

/** Longest key, resolved or given. */
const MAX_KEY = 200;

/**
 * Each request's limits, in order: its `rateLimitKeys` and the rate limits its task declares (keys filled in
 * from the input), and its own concurrency or else the task's. Declared limits are recorded for their keys.
 * Throws `unresolved_key` when a template names a value the input lacks, `unknown_rate_limit` when a
 * `rateLimitKeys` key has no limit; nothing is recorded then.
 */
export async function resolveRunLimits(
  sql: SqlClient,
  declarations: Pick<TaskDeclarations, 'of'>,
  requests: Request[],
  now: number,
): Promise<RunLimits[]> {
  const byTask = await declarations.of(
    requests.map((r) => r.task),
    now,
  );
  const declared: DeclaredLimit[] = [];
  const given = new Set<string>();
  const limits = requests.map((request, index): RunLimits => {
    const declaration = byTask.get(request.task)!;
    const source = { input: request.input, metadata: request.metadata };
    const where = (field: string) => (requests.length > 1 ? `runs[${index}].${field}` : field);
    const rateLimits: RateLimitUse[] = declaration.rateLimits.map((spec, i) => {
      const key = keyOf(spec.key, source, `the task's rateLimits[${i}].key`, where('input'));
      declared.push({ key, limit: spec.limit, perMs: windowMs(spec.per) });
      return { key, units: spec.units ?? 1 };
    });
    for (const entry of request.rateLimitKeys ?? []) {
      const use =
        typeof entry === 'string' ? { key: entry, units: 1 } : { key: entry.key, units: entry.units ?? 1 };
      if (!rateLimits.some((u) => u.key === use.key)) given.add(use.key);
      rateLimits.push(use);
    }
    const own = request.concurrency;
    const spec = declaration.concurrency;
    const concurrency = own
      ? { key: own.key, limit: own.limit, strategy: own.strategy }
      : spec
        ? {
            key: keyOf(spec.key, source, "the task's concurrency.key", where('input')),
            limit: spec.limit,
            strategy: spec.strategy,
          }
        : undefined;
    return { rateLimits: merged(rateLimits), concurrency };
  });

  const declaredKeys = new Set(declared.map((d) => d.key));
  const toCheck = [...given].filter((k) => !declaredKeys.has(k));
  const known = await knownRateLimitKeys(sql, toCheck);
  const unknown = toCheck.filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new PushworkerError(
      'unknown_rate_limit',
      `no rate limit is set or declared for the key "${unknown[0]}": set one with PUT /v1/rate-limits/{key}`,
      { keys: unknown },
    );
  }
  await declareRateLimits(sql, declared, now);
  return limits;
}

function keyOf(
  template: string,
  source: { input: unknown; metadata?: Record<string, unknown> | undefined },
  what: string,
  field: string,
): string {
  const resolved = resolveKey(template, source);
  if ('missing' in resolved) {
    throw new PushworkerError(
      'unresolved_key',
      `${what} is "${template}", but the run's ${resolved.missing.startsWith('{metadata') ? 'metadata' : field} has no string or number for ${resolved.missing}`,
      { template, placeholder: resolved.missing },
    );
  }
  if (resolved.key.length === 0 || resolved.key.length > MAX_KEY) {
    throw new PushworkerError(
      'unresolved_key',
      `${what} "${template}" resolves to a key of ${resolved.key.length} characters; keys have 1 to ${MAX_KEY}`,
      { template },
    );
  }
  return resolved.key;
}

/** One use per key, its units summed, so that a claim counts a run once against each window. */
function merged(uses: RateLimitUse[]): RateLimitUse[] {
  const byKey = new Map<string, RateLimitUse>();
  for (const u of uses) {
    const prior = byKey.get(u.key);
    byKey.set(u.key, prior ? { key: u.key, units: prior.units + u.units } : { ...u });
  }
  return [...byKey.values()];
}
