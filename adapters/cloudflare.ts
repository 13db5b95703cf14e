// Cloudflare Workers adapter: a module Worker configured from env bindings, running tasks inside the request.
import type { ExecutionContext } from 'hono';
import type { ReplayStore } from '../src/auth/replay.ts';
import { PushworkerError } from '../src/protocol/errors.ts';
import { configFromEnv } from '../src/worker/config.ts';
import { createLogger } from '../src/worker/log.ts';
import type { AnyTask } from '../src/worker/task.ts';
import { createWorker, type Worker, type WorkerOptions } from '../src/worker/worker.ts';

export type { ExecutionContext };

export type Bindings = Record<string, unknown>;

export interface ModuleWorkerOptions<Env extends Bindings = Bindings>
  extends Partial<Omit<WorkerOptions, 'mode' | 'replay' | 'tasks'>> {
  tasks: AnyTask[];
  /**
   * Where seen push `jti`s are kept. The default is in memory, so per isolate: a replay that reaches
   * another isolate (another colo, or after eviction) is not caught. Pass `durableObjectReplayStore`
   * (or any `ReplayStore`) for one guard across isolates.
   */
  replay?: ReplayStore | ((env: Env) => ReplayStore | undefined);
}

export interface ModuleWorker<Env extends Bindings = Bindings> {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response>;
}

/**
 * Turns a worker definition into a module Worker (`export default moduleWorker({ tasks })`).
 * `PUSHWORKER_*` bindings override the options; the worker is built on the first request, once per
 * isolate, and always runs in sync mode: tasks run inside the request (so workerd's limits apply and
 * heartbeats flow), and the events flush through `ctx.waitUntil` after the response.
 */
export function moduleWorker<Env extends Bindings = Bindings>(
  definition: ModuleWorkerOptions<Env> | ((env: Env) => Worker),
): ModuleWorker<Env> {
  let worker: Worker | undefined;
  const build = (env: Env): Worker => {
    if (typeof definition === 'function') return definition(env);
    const { replay, ...options } = definition;
    const { name, keys, ...rest } = { ...options, ...fromEnv(env) };
    if (!name) throw new TypeError('PUSHWORKER_NAME is not set');
    // A Hatchet-only endpoint needs no push keys: it verifies Hatchet's HMAC signatures instead.
    if (!keys && !rest.hatchet) {
      throw new TypeError(
        'none of PUSHWORKER_JWKS, PUSHWORKER_JWKS_URL, PUSHWORKER_SECRET or HATCHET_SIGNING_SECRET is set',
      );
    }
    return createWorker({ ...rest, name, keys, mode: 'sync', replay: storeFor(replay, env) });
  };
  return {
    async fetch(request, env, ctx) {
      try {
        worker ??= build(env);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        createLogger().error('the worker could not start', { error: message });
        // The cause names bindings, never their values: it is what the developer needs in the answer.
        const misconfigured = new PushworkerError('misconfigured', `the worker is misconfigured: ${message}`);
        return Response.json(misconfigured.toJSON(), { status: misconfigured.status });
      }
      if (worker.mode !== 'sync') throw new TypeError('a Cloudflare worker runs in sync mode');
      return worker.fetch(request, env, ctx);
    },
  };
}

/** The worker options set by bindings; unset bindings leave the code's options in place. */
function fromEnv(env: Bindings): Partial<WorkerOptions> {
  const { keys, mode: _ignored, ...config } = configFromEnv(env);
  const set = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  const hasKeys = Object.values(keys).some((v) => v !== undefined);
  return hasKeys ? { ...set, keys } : set;
}

function storeFor<Env extends Bindings>(replay: ModuleWorkerOptions<Env>['replay'], env: Env) {
  return typeof replay === 'function' ? replay(env) : replay;
}

// --- A replay guard shared by every isolate: one Durable Object claims each `jti` once. ---

interface DurableObjectStorage {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list<T>(options?: { prefix?: string; limit?: number }): Promise<Map<string, T>>;
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number): Promise<void>;
}

export interface DurableObjectNamespace {
  idFromName(name: string): unknown;
  get(id: never): { fetch(input: string, init?: RequestInit): Promise<Response> };
}

/**
 * The Durable Object behind `durableObjectReplayStore`. Export it from the Worker's entry module and
 * bind it (see wrangler.toml). Input gates make each claim's read-then-write atomic; an alarm sweeps
 * expired `jti`s.
 */
export class ReplayGuard {
  constructor(private readonly state: { storage: DurableObjectStorage }) {}

  async fetch(request: Request): Promise<Response> {
    const { jti, exp } = (await request.json()) as { jti: string; exp: number };
    const key = `jti:${jti}`;
    const known = await this.state.storage.get<number>(key);
    if (known !== undefined && known >= Date.now() / 1000) return Response.json({ claimed: false });
    await this.state.storage.put(key, exp);
    if ((await this.state.storage.getAlarm()) === null) await this.state.storage.setAlarm(exp * 1000 + 1_000);
    return Response.json({ claimed: true });
  }

  async alarm(): Promise<void> {
    const now = Date.now() / 1000;
    const seen = await this.state.storage.list<number>({ prefix: 'jti:' });
    const expired = [...seen].filter(([, exp]) => exp < now).map(([key]) => key);
    for (let i = 0; i < expired.length; i += 128) await this.state.storage.delete(expired.slice(i, i + 128));
    const next = Math.min(...[...seen.values()].filter((exp) => exp >= now));
    if (Number.isFinite(next)) await this.state.storage.setAlarm(next * 1000 + 1_000);
  }
}

/** A `ReplayStore` backed by the `ReplayGuard` Durable Object bound as `namespace`. */
export function durableObjectReplayStore(namespace: DurableObjectNamespace, name = 'replay'): ReplayStore {
  const id = namespace.idFromName(name);
  return {
    async claim(jti, expiresAtS) {
      // A stub is an I/O object of the request that made it, so each request gets its own.
      const guard = namespace.get(id as never);
      const response = await guard.fetch('https://replay-guard/claim', {
        method: 'POST',
        body: JSON.stringify({ jti, exp: expiresAtS }),
      });
      if (!response.ok) throw new Error(`the replay guard answered ${response.status}`);
      return ((await response.json()) as { claimed: boolean }).claimed;
    },
  };
}
