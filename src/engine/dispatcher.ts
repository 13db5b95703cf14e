// The dispatch loop: claims runs for workers with free slots and pushes them in batches, handling each answer.
import { errorStatus } from '../protocol/errors.ts';
import {
  AcceptedResponse,
  type Assignment,
  type EventResult,
  type Rejection,
  type RunEvent,
  type RunRef,
  SyncResponse,
} from '../protocol/schemas.ts';
import type { TraceSpan } from '../tracing/tracing.ts';
import { DispatchLoop, type RoundResult } from './dispatch-loop.ts';
import type { EventsVia } from './intake.ts';
import type { KeyRing } from './keys.ts';
import type { Metrics } from './metrics.ts';
import type { Outbound } from './outbound/client.ts';
import { cutPushes, pushLimitOf } from './push-batches.ts';
import { oversizedError, rejectionError, unreachable } from './push-failures.ts';
import { type PushContext, type PushReply, pushAssignments } from './pusher.ts';
import { orderForRound, shouldTake } from './scheduler.ts';
import type { Signals } from './signals.ts';
import { WorkerSnapshot } from './snapshot.ts';
import { claimRuns } from './store/claims.ts';
import { nextDueAt } from './store/due.ts';
import type { RunRecord, WorkerRecord } from './store/records.ts';
import type { RetryPolicy } from './store/retry.ts';
import type { Sql } from './store/sql.ts';
import { failRun, requeueRuns } from './store/transitions.ts';
import { recordPushHealth, setWorkerState } from './store/workers.ts';
import type { EngineTracing } from './tracing.ts';

export interface DispatcherOptions {
  sql: Sql;
  keys: KeyRing;
  signals: Signals;
  metrics: Metrics;
  issuer: string;
  leaseMs: number;
  batchSize: number;
  pollIntervalMs: number;
  pushTimeoutMs: number;
  /** Offered in every push: how long the worker may hold its answer to carry its runs' events (0: never). */
  answerWithinMs: number;
  outbound: Outbound;
  maxDeliveries: number;
  retry: RetryPolicy;
  /** Where workers post events, when the engine knows its own URL. */
  eventsUrl: () => string | undefined;
  /** Applies events on a worker's behalf (those in a push's answer, the results in a sync worker's answer). */
  applyEvents: (workerName: string, events: RunEvent[], via: EventsVia) => Promise<EventResult[]>;
  /** Spans of each attempt's time in the queue and its push; undefined unless tracing is on. */
  tracing?: EngineTracing | undefined;
  onError: (error: unknown) => void;
  /** Operator notices: said once when a worker's pushes start failing, and once when they recover. */
  notice: (line: string) => void;
}

const FAILURE_BACKOFF_MS = 1_000;

export class Dispatcher {
  private readonly loop: DispatchLoop;
  private readonly pushes = new Set<Promise<void>>();
  /** Workers not to push to until a time (429 Retry-After, failing pushes). */
  private readonly holdUntil = new Map<string, number>();
  private unsubscribe: (() => void)[] = [];
  private readonly snapshot: WorkerSnapshot;

  constructor(private readonly o: DispatcherOptions) {
    this.snapshot = new WorkerSnapshot(o.sql, Math.max(5 * o.pollIntervalMs, 1_000));
    this.loop = new DispatchLoop({
      pollIntervalMs: o.pollIntervalMs,
      round: () => this.round(),
      onError: o.onError,
    });
  }

  start(): void {
    if (!this.loop.start()) return;
    this.unsubscribe = [
      this.o.signals.onWake(() => this.wake()),
      this.o.signals.onFreed((ids) => {
        this.snapshot.freed(ids);
        // Free slots matter only when the last round left work behind for want of them.
        if (this.loop.workLeft) this.wake();
      }),
      this.o.signals.onWorkersChanged(() => {
        this.snapshot.invalidate();
        this.wake();
      }),
    ];
  }

  /** Stops claiming, then waits for pushes in flight to be answered. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    await this.loop.stop();
    await Promise.allSettled([...this.pushes]);
  }

  wake(): void {
    this.loop.wake();
  }

  /** One pass over the workers with room, claiming and pushing; what it found decides when the next one runs. */
  private async round(): Promise<RoundResult> {
    const now = Date.now();
    const workers = await this.snapshot.current(now);
    let more = false;
    // Work is left behind when a worker ends the round full or held back; otherwise every worker with room
    // has claimed all it may take, and only new work (or the poll) calls for another round.
    let workLeft = false;
    for (const worker of orderForRound(workers)) {
      if (!this.loop.active) break;
      if (!this.snapshot.hasRoom(worker) || (this.holdUntil.get(worker.id) ?? 0) > now) {
        workLeft = true;
        continue;
      }
      const epoch = this.snapshot.epoch(worker.id);
      const claim = await claimRuns(this.o.sql, {
        workerId: worker.id,
        max: this.o.batchSize,
        now,
        leaseMs: this.o.leaseMs,
        accept: (candidate) => shouldTake(candidate, worker, workers),
      });
      if (!claim.dispatchable) {
        this.snapshot.invalidate();
        continue;
      }
      this.snapshot.settle(worker, claim.used, claim.slots, epoch);
      if (claim.used >= claim.slots) workLeft = true;
      if (claim.runs.length === 0) continue;
      for (const run of claim.runs) this.o.metrics.dispatched(run.task, Math.max(0, now - run.availableAt));
      if (claim.runs.length >= this.o.batchSize) more = true;
      this.track(this.push(worker, claim.runs));
    }
    // Before a sleep, when the next delayed or backed-off run comes due: the sleep ends then if that is sooner.
    // What another replica queues wakes this one (signals), whose next round reads the due time again. A round
    // followed at once by another (more to take, or a wake meanwhile) sleeps not, and leaves the reading to it.
    const sleepsNext = !more && this.loop.active && !this.loop.woken;
    const nextDue = sleepsNext ? await nextDueAt(this.o.sql, now) : undefined;
    return { more, workLeft, nextDueAt: nextDue };
  }

  private track(promise: Promise<void>): void {
    const tracked = promise.catch(this.o.onError).finally(() => this.pushes.delete(tracked));
    this.pushes.add(tracked);
  }

  private context(): PushContext {
    return {
      key: this.o.keys.signing(),
      issuer: this.o.issuer,
      timeoutMs: this.o.pushTimeoutMs,
      outbound: this.o.outbound,
    };
  }

  private assignmentOf(run: RunRecord, traceparent: string | null): Assignment {
    const eventsUrl = this.o.eventsUrl();
    return {
      runId: run.id,
      attempt: run.attempt,
      task: run.task,
      input: run.input ?? null,
      slotCost: run.slotCost ?? 1,
      ...(run.timeoutMs ? { timeoutMs: run.timeoutMs } : {}),
      ...(run.metadata ? { metadata: run.metadata } : {}),
      ...(eventsUrl ? { eventsUrl } : {}),
      ...(run.workflowRunId ? { workflowRunId: run.workflowRunId, parents: run.parentOutputs ?? {} } : {}),
      ...(run.journal ? { journal: run.journal } : {}),
      ...(traceparent ? { traceparent } : {}),
    };
  }

  /** Pushes a claim's runs, in as many pushes as the worker's body limit calls for. */
  private async push(worker: WorkerRecord, runs: RunRecord[]): Promise<void> {
    const started = Date.now();
    const spans = this.o.tracing ? runs.map((r) => this.o.tracing!.push(r, worker, started)) : [];
    const assignments = runs.map((r, i) => this.assignmentOf(r, spans[i]?.traceparent ?? r.traceparent));
    const cut = cutPushes(assignments, pushLimitOf(worker), this.o.answerWithinMs);
    for (const { index, bytes } of cut.oversized) {
      spans[index]?.fail('the assignment is over the worker body limit');
      spans[index]?.end();
      await this.failOversized(worker, runs[index]!, bytes);
    }
    await Promise.all(
      cut.pushes.map(({ indexes, body }) =>
        this.pushOne(
          worker,
          indexes.map((i) => runs[i]!),
          indexes.map((i) => spans[i]),
          body,
        ),
      ),
    );
  }

  /** A run whose assignment alone is over the worker's body limit fails, not retried: no push can carry it. */
  private async failOversized(worker: WorkerRecord, run: RunRecord, bytes: number): Promise<void> {
    const ref = { runId: run.id, attempt: run.attempt };
    if (await failRun(this.o.sql, ref, oversizedError(worker, bytes), Date.now(), this.o.retry))
      this.o.signals.done([run.id]);
    this.o.signals.freed([worker.id]);
  }

  private async pushOne(
    worker: WorkerRecord,
    runs: RunRecord[],
    spans: (TraceSpan | undefined)[],
    body: string,
  ): Promise<void> {
    const refs: RunRef[] = runs.map((r) => ({ runId: r.id, attempt: r.attempt }));
    let reply: PushReply;
    try {
      reply = await pushAssignments(worker, this.context(), body);
    } catch (error) {
      reply = { status: 0, body: undefined, failure: unreachable(error, worker.url) };
    }
    for (const span of spans) {
      span?.set({ 'http.response.status_code': reply.status });
      if (reply.status !== 200 && reply.status !== 202)
        span?.fail(reply.failure ?? `answered ${reply.status}`);
      span?.end();
    }
    this.o.metrics.count('pushworker_pushes_total', 'Assignment pushes by answer status.', {
      status: String(reply.status),
    });
    const now = Date.now();
    if (reply.status === 202 || reply.status === 200) {
      await this.pushHealthy(worker, null, now);
      const parsed =
        reply.status === 202 ? AcceptedResponse.safeParse(reply.body) : SyncResponse.safeParse(reply.body);
      if (!parsed.success)
        return this.requeueUnconfirmed(worker, refs, 'the worker answered with an invalid body');
      await this.handleRejections(worker, parsed.data.rejected);
      const events = parsed.data.events ?? [];
      if (events.length > 0) await this.o.applyEvents(worker.name, events, 'answer');
      if ('results' in parsed.data && parsed.data.results.length > 0)
        await this.applySync(worker, parsed.data);
      return;
    }
    if (reply.status === errorStatus.no_slot) {
      this.holdUntil.set(worker.id, now + (reply.retryAfterMs ?? FAILURE_BACKOFF_MS));
      await this.pushHealthy(worker, null, now);
      return this.requeueUntaken(worker, refs, 'no_slot');
    }
    if (reply.status === errorStatus.stopping && isStopping(reply.body)) {
      await setWorkerState(this.o.sql, worker.id, 'STOPPED');
      this.o.signals.workersChanged();
      return this.requeueUntaken(worker, refs, 'stopping');
    }
    this.holdUntil.set(worker.id, now + FAILURE_BACKOFF_MS);
    const failure = reply.failure ?? `${reply.status} from ${worker.url}`;
    await this.pushHealthy(worker, failure, now);
    return this.requeueUnconfirmed(worker, refs, `push failed: ${failure}`);
  }

  /** Push health is written when it changes, not on every push, and said to the operator when it turns. */
  private async pushHealthy(worker: WorkerRecord, failure: string | null, now: number): Promise<void> {
    if (failure === worker.pushError && (failure === null) === (worker.pushFailingSince === null)) return;
    await recordPushHealth(this.o.sql, worker.id, failure, now);
    const was = worker.pushFailingSince === null ? null : worker.pushError;
    worker.pushFailingSince = failure === null ? null : (worker.pushFailingSince ?? now);
    worker.pushError = failure;
    const who = `worker ${worker.name} (${worker.id})`;
    if (failure !== null && was === null) this.o.notice(`pushes to ${who} fail: ${failure}`);
    else if (failure === null && was !== null) this.o.notice(`pushes to ${who} succeed again`);
  }

  /** The worker took none of `refs` (no_slot, stopping): they go back to the queue, the delivery not counted. */
  private requeueUntaken(
    worker: WorkerRecord,
    refs: RunRef[],
    reason: 'no_slot' | 'stopping',
  ): Promise<void> {
    return this.requeue(worker, refs, { reason, refund: true });
  }

  /**
   * The push failed or its answer was unreadable, so the worker may have started `refs`: they go back to the queue
   * and the delivery counts, so that a run no push gets through to fails after `maxDeliveries`.
   */
  private requeueUnconfirmed(worker: WorkerRecord, refs: RunRef[], reason: string): Promise<void> {
    return this.requeue(worker, refs, { reason });
  }

  private async requeue(
    worker: WorkerRecord,
    refs: RunRef[],
    how: { reason: string; refund?: true },
  ): Promise<void> {
    const { failed } = await requeueRuns(this.o.sql, refs, {
      now: Date.now(),
      maxDeliveries: this.o.maxDeliveries,
      ...how,
    });
    this.o.signals.done(failed);
    this.o.signals.freed([worker.id]);
    this.o.signals.wake();
  }

  private async handleRejections(worker: WorkerRecord, rejected: Rejection[]): Promise<void> {
    const noSlot = rejected.filter((r) => r.reason === 'no_slot');
    if (noSlot.length > 0) await this.requeueUntaken(worker, noSlot, 'no_slot');
    for (const r of rejected) {
      const error = rejectionError(worker, r);
      if (!error) continue;
      if (await failRun(this.o.sql, r, error, Date.now(), this.o.retry)) this.o.signals.done([r.runId]);
      this.o.signals.freed([worker.id]);
    }
  }

  /** A sync worker's answer carries the results; they are applied like the events it also posted. */
  private async applySync(worker: WorkerRecord, reply: SyncResponse): Promise<void> {
    const at = new Date().toISOString();
    const events = reply.results.map((r): RunEvent => {
      const ref = { runId: r.runId, attempt: r.attempt, at };
      if (r.status === 'completed') return { ...ref, type: 'completed', output: r.output };
      if (r.status === 'suspended' && r.suspension)
        return { ...ref, type: 'suspended', suspension: r.suspension };
      return {
        ...ref,
        type: 'failed',
        error: r.error ?? { message: 'failed', name: 'Error', retryable: true },
      };
    });
    await this.o.applyEvents(worker.name, events, 'result');
  }
}

function isStopping(body: unknown): boolean {
  return (body as { error?: { code?: string } } | undefined)?.error?.code === 'stopping';
}
