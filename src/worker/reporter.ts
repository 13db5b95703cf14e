// Posts run events to the engine: batched per URL, a few posts in flight, retried with backoff, never dropped
// while the process lives.
import { answerProblem, readJsonAnswer } from '../http/answer.ts';
import { EventsResponse, type RunEvent } from '../protocol/schemas.ts';
import { callRetryDelayMs, sleep } from './backoff.ts';
import type { Logger } from './log.ts';

/**
 * What became of one reported event. `dropped`: the engine refused its batch for good (4xx), or there is
 * nowhere to send it.
 */
export type ReportOutcome = 'ok' | 'stale' | 'dropped';

export interface ReporterOptions {
  token?: string;
  fetch?: typeof fetch;
  log: Logger;
  maxBatch?: number;
  /** Posts in flight at once per URL; events raised meanwhile wait for the next free one. */
  maxInFlight?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  onFailure?: (kind: 'retry' | 'dropped') => void;
}

interface Pending {
  event: RunEvent;
  resolve: (outcome: ReportOutcome) => void;
}

interface Queue {
  pending: Pending[];
  /** One drain loop per post in flight. */
  draining: Set<Promise<void>>;
  /** A loop is about to start and will take what is pending. */
  starting: boolean;
  /** Runs with events in a post in flight: their later events wait, so that one run's events arrive in order. */
  busy: Map<string, number>;
}

const RETRYABLE_STATUS = new Set([408, 425, 429]);

/** Resolves after the current macrotask (setImmediate where there is one; workerd and browsers have not). */
const nextTask = (): Promise<void> =>
  new Promise((resolve) => {
    const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
    if (immediate) immediate(resolve);
    else setTimeout(resolve, 0);
  });

export class EventReporter {
  private readonly queues = new Map<string, Queue>();
  /** Events kept back elsewhere until these settle (a push's answer may carry them); `flush` waits for them. */
  private readonly holds = new Set<Promise<unknown>>();
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ReporterOptions) {
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  report(url: string | undefined, event: RunEvent): Promise<ReportOutcome> {
    if (!url) return Promise.resolve('dropped');
    return new Promise((resolve) => {
      let queue = this.queues.get(url);
      if (!queue) {
        queue = { pending: [], draining: new Set(), starting: false, busy: new Map() };
        this.queues.set(url, queue);
      }
      queue.pending.push({ event, resolve });
      // A new post starts once the current task of the event loop is done, so that events raised together
      // travel together: a task that finishes at once is posted with its `started` event.
      if (!queue.starting && queue.draining.size < (this.options.maxInFlight ?? 4)) {
        const q = queue;
        q.starting = true;
        const loop: Promise<void> = nextTask()
          .then(() => this.drain(url, q))
          .finally(() => q.draining.delete(loop));
        q.draining.add(loop);
      }
    });
  }

  get pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.pending.length;
    return n;
  }

  /**
   * Events raised but kept back until `until` settles, when they are reported here or travel elsewhere: `flush`
   * waits for it as for a post in flight.
   */
  holdUntil(until: Promise<unknown>): void {
    const held = until.catch(() => {}).finally(() => this.holds.delete(held));
    this.holds.add(held);
  }

  /** Resolves once every event reported or held so far has been answered; false when `timeoutMs` ran out first. */
  async flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const draining = [...this.holds, ...[...this.queues.values()].flatMap((q) => [...q.draining])];
      if (draining.length === 0) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const timedOut = Symbol();
      const winner = await Promise.race([
        Promise.all(draining),
        Number.isFinite(left) ? sleep(left).then(() => timedOut) : new Promise<never>(() => {}),
      ]);
      if (winner === timedOut) return false;
    }
  }

  private async drain(url: string, queue: Queue): Promise<void> {
    const { maxBatch = 100, retryBaseMs = 100, retryMaxMs = 10_000 } = this.options;
    queue.starting = false;
    let failures = 0;
    for (;;) {
      const batch = take(queue, maxBatch);
      if (batch.length === 0) return;
      const outcome = await this.post(url, batch);
      release(queue, batch);
      if (outcome === 'retry') {
        queue.pending.unshift(...batch);
        this.options.onFailure?.('retry');
        await sleep(callRetryDelayMs(++failures, retryBaseMs, retryMaxMs));
        continue;
      }
      failures = 0;
      batch.forEach((p, i) => {
        p.resolve(outcome === 'dropped' ? 'dropped' : (outcome[i] ?? 'ok'));
      });
    }
  }

  private async post(url: string, batch: Pending[]): Promise<ReportOutcome[] | 'retry' | 'dropped'> {
    const { requestTimeoutMs = 10_000 } = this.options;
    // A timer cleared once the post is answered: AbortSignal.timeout's timer, and the weak reference to its
    // signal, would outlive every post by the whole timeout.
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DOMException('the event post timed out', 'TimeoutError')),
      requestTimeoutMs,
    );
    try {
      return await this.send(url, batch, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async send(
    url: string,
    batch: Pending[],
    signal: AbortSignal,
  ): Promise<ReportOutcome[] | 'retry' | 'dropped'> {
    const { token, log } = this.options;
    let response: Response;
    try {
      response = await this.fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ events: batch.map((p) => p.event) }),
        signal,
      });
    } catch (error) {
      log.warn('event post failed, will retry', {
        url,
        error: (error as Error).message,
        events: batch.length,
      });
      return 'retry';
    }
    if (response.ok) {
      const parsed = EventsResponse.safeParse(await readJsonAnswer(response));
      return parsed.success ? parsed.data.results : batch.map(() => 'ok');
    }
    if (response.status >= 500 || RETRYABLE_STATUS.has(response.status)) {
      await response.body?.cancel();
      log.warn('event post failed, will retry', { url, status: response.status, events: batch.length });
      return 'retry';
    }
    log.error('engine refused events; dropping them', {
      url,
      status: response.status,
      error: answerProblem(response.status, await readJsonAnswer(response)),
      events: batch.length,
    });
    this.options.onFailure?.('dropped');
    return 'dropped';
  }
}

/** Up to `max` pending events of runs with nothing in flight, in the order they were raised. */
function take(queue: Queue, max: number): Pending[] {
  const batch: Pending[] = [];
  const rest: Pending[] = [];
  for (const p of queue.pending) {
    (batch.length < max && !queue.busy.has(p.event.runId) ? batch : rest).push(p);
  }
  queue.pending = rest;
  for (const p of batch) queue.busy.set(p.event.runId, (queue.busy.get(p.event.runId) ?? 0) + 1);
  return batch;
}

function release(queue: Queue, batch: Pending[]): void {
  for (const { event } of batch) {
    const n = queue.busy.get(event.runId)! - 1;
    if (n === 0) queue.busy.delete(event.runId);
    else queue.busy.set(event.runId, n);
  }
}
