// A protocol-level worker endpoint for engine tests: verifies signed pushes, runs scripted tasks, posts events.
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createKeySet, MemoryReplayStore, verifyPush } from '../../../src/auth/index.ts';
import {
  type Assignment,
  type Labels,
  PushBody,
  PushworkerError,
  type RunEvent,
  type RunResult,
  SIGNATURE_HEADER,
} from '../../../src/protocol/index.ts';

export interface TaskContext {
  runId: string;
  attempt: number;
  signal: AbortSignal;
  emit(event: Partial<RunEvent> & { type: RunEvent['type'] }): Promise<string>;
}
export type TaskHandler = (input: unknown, ctx: TaskContext) => Promise<unknown>;

export interface TestWorkerOptions {
  name: string;
  engineUrl: string;
  token: string;
  slots?: number;
  labels?: Labels;
  tasks?: Record<string, TaskHandler>;
  taskOptions?: Record<string, { timeoutMs?: number; retries?: number; slotCost?: number }>;
  /** `sync` answers 200 with results, like a serverless worker. */
  mode?: 'async' | 'sync';
  /** Registers itself with PUT /v1/workers (long-lived worker). */
  register?: boolean;
  heartbeatMs?: number;
}

export const defaultTasks: Record<string, TaskHandler> = {
  echo: async (input) => input,
  sleep: (input, ctx) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => resolve({ slept: (input as { ms: number }).ms }),
        (input as { ms: number }).ms,
      );
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(Object.assign(new Error('cancelled'), { name: 'Cancelled' }));
      });
    }),
  fail: async (input) => {
    const { message, retryable } = input as { message: string; retryable?: boolean };
    throw Object.assign(new Error(message), {
      name: retryable === false ? 'NonRetryableError' : 'Error',
      retryable,
    });
  },
};

export class TestWorker {
  readonly pushes: PushBody[] = [];
  readonly started: { runId: string; attempt: number }[] = [];
  readonly staleAnswers: string[] = [];
  used = 0;
  workerId: string | undefined;
  url = '';
  private server: ServerType | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private running = new Map<string, AbortController>();
  private readonly o: Required<Omit<TestWorkerOptions, 'labels' | 'taskOptions'>> & TestWorkerOptions;

  constructor(options: TestWorkerOptions) {
    this.o = { slots: 4, tasks: defaultTasks, mode: 'async', register: true, heartbeatMs: 200, ...options };
  }

  manifest() {
    return {
      name: this.o.name,
      url: this.url,
      slots: this.o.slots,
      labels: this.o.labels ?? {},
      tasks: Object.keys(this.o.tasks).map((name) => ({
        name,
        inputSchema: {},
        timeoutMs: this.o.taskOptions?.[name]?.timeoutMs ?? 60_000,
        retries: this.o.taskOptions?.[name]?.retries ?? 0,
        slotCost: this.o.taskOptions?.[name]?.slotCost ?? 1,
      })),
    };
  }

  async start(): Promise<this> {
    const keys = createKeySet({ jwksUrl: `${this.o.engineUrl}/.well-known/jwks.json` });
    const replay = new MemoryReplayStore();
    const app = new Hono();
    app.onError((error, c) =>
      error instanceof PushworkerError
        ? c.json(error.toJSON(), error.status as 401)
        : c.json({ error: String(error) }, 500),
    );
    const verify = async (c: {
      req: { header(n: string): string | undefined; arrayBuffer(): Promise<ArrayBuffer> };
    }) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      await verifyPush(c.req.header(SIGNATURE_HEADER), body, { keys, audience: this.o.name, replay });
      return body;
    };
    app.get('/health', (c) =>
      c.json({ status: 'ok', name: this.o.name, slots: { total: this.o.slots, used: this.used }, tasks: [] }),
    );
    app.get('/', async (c) => {
      await verify(c);
      return c.json(this.manifest());
    });
    app.post('/', async (c) => {
      const body = PushBody.parse(JSON.parse(new TextDecoder().decode(await verify(c))));
      this.pushes.push(body);
      if ('cancel' in body) {
        for (const ref of body.cancel) this.running.get(`${ref.runId}:${ref.attempt}`)?.abort();
        return c.json({ cancelled: body.cancel, unknown: [] });
      }
      return this.accept(body.assignments, c);
    });
    await new Promise<void>((resolve) => {
      this.server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
        this.url = `http://127.0.0.1:${info.port}/`;
        resolve();
      });
    });
    if (this.o.register) {
      await this.registerSelf();
      this.heartbeat = setInterval(() => void this.beat().catch(() => {}), this.o.heartbeatMs);
    }
    return this;
  }

  private async accept(
    assignments: Assignment[],
    c: { json: (b: unknown, s?: number) => Response; header: (k: string, v: string) => void },
  ) {
    const accepted: Assignment[] = [];
    const rejected: { runId: string; attempt: number; reason: 'no_slot' | 'unknown_task' }[] = [];
    for (const a of assignments) {
      if (!this.o.tasks[a.task])
        rejected.push({ runId: a.runId, attempt: a.attempt, reason: 'unknown_task' });
      else if (this.used + a.slotCost > this.o.slots)
        rejected.push({ runId: a.runId, attempt: a.attempt, reason: 'no_slot' });
      else {
        this.used += a.slotCost;
        accepted.push(a);
      }
    }
    if (accepted.length === 0 && rejected.every((r) => r.reason === 'no_slot')) {
      c.header('retry-after', '1');
      return c.json({ error: { code: 'no_slot', message: 'full' } }, 429);
    }
    const runs = accepted.map((a) => this.execute(a));
    if (this.o.mode === 'sync') return c.json({ results: await Promise.all(runs), rejected });
    return c.json({ accepted: accepted.map(({ runId, attempt }) => ({ runId, attempt })), rejected }, 202);
  }

  private async execute(a: Assignment): Promise<RunResult> {
    const controller = new AbortController();
    const key = `${a.runId}:${a.attempt}`;
    this.running.set(key, controller);
    let released = false;
    const ctx: TaskContext = {
      runId: a.runId,
      attempt: a.attempt,
      signal: controller.signal,
      emit: async (event) => {
        if (event.type === 'slot_released' && !released) {
          released = true;
          this.used -= a.slotCost;
        }
        return this.post(
          { runId: a.runId, attempt: a.attempt, at: new Date().toISOString(), ...event } as RunEvent,
          a,
          controller,
        );
      },
    };
    this.started.push({ runId: a.runId, attempt: a.attempt });
    try {
      await ctx.emit({ type: 'started' });
      const output = await this.o.tasks[a.task]!(a.input, ctx);
      await ctx.emit({ type: 'completed', output } as RunEvent);
      return { runId: a.runId, attempt: a.attempt, status: 'completed', output };
    } catch (e) {
      const err = e as Error & { retryable?: boolean };
      const error = { message: err.message, name: err.name, retryable: err.retryable !== false };
      await ctx.emit({ type: 'failed', error } as RunEvent).catch(() => {});
      return { runId: a.runId, attempt: a.attempt, status: 'failed', error };
    } finally {
      this.running.delete(key);
      if (!released) this.used -= a.slotCost;
    }
  }

  private async post(event: RunEvent, a: Assignment, controller: AbortController): Promise<string> {
    const response = await fetch(a.eventsUrl ?? `${this.o.engineUrl}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [event] }),
    });
    if (!response.ok) return `http_${response.status}`;
    const result = ((await response.json()) as { results: string[] }).results[0]!;
    if (result === 'stale') {
      this.staleAnswers.push(`${event.runId}:${event.attempt}:${event.type}`);
      controller.abort();
    }
    return result;
  }

  /** Posts an arbitrary events body with this worker's token; returns status and JSON. */
  async postEvents(events: RunEvent[], token = this.o.token): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${this.o.engineUrl}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    return { status: response.status, body: await response.json() };
  }

  async registerSelf(): Promise<void> {
    const response = await fetch(`${this.o.engineUrl}/v1/workers`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(this.manifest()),
    });
    if (!response.ok) throw new Error(`registration failed: ${response.status} ${await response.text()}`);
    this.workerId = ((await response.json()) as { workerId: string }).workerId;
  }

  async beat(state: 'ACTIVE' | 'STOPPED' = 'ACTIVE'): Promise<number> {
    const response = await fetch(`${this.o.engineUrl}/v1/workers/${this.workerId}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state, slots: { total: this.o.slots, used: this.used } }),
    });
    if (response.status === 404) await this.registerSelf();
    return response.status;
  }

  /** Stops heartbeats and the listener without telling anyone, like a killed process. */
  async kill(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const c of this.running.values()) c.abort();
    await this.close();
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
  }
}
