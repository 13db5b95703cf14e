// The sweeper: silent workers go INACTIVE, lost leases are re-queued, expired queued runs fail, deadlines fail
// attempts and cancel them, cancelled runs' live children are cancelled, the queue depths are sampled and settled
// seconds rolled up for the charts, finished runs past their retention are deleted, and the embedded store gets its
// upkeep.
import type { ChildRunCanceller } from './child-cancels.ts';
import type { ChildRunWaker } from './child-runs.ts';
import type { KeyRing } from './keys.ts';
import type { Metrics } from './metrics.ts';
import type { Signals } from './signals.ts';
import { expireQueuedRuns } from './store/expiry.ts';
import type { StoreUpkeep } from './store/maintenance.ts';
import { QUEUE_SAMPLE_MS, recordQueueSample } from './store/queue-samples.ts';
import { pruneIdleRateLimits } from './store/rate-limits.ts';
import { deleteExpiredEvents, deleteExpiredRuns, deleteExpiredWorkflowRuns } from './store/retention.ts';
import type { RetryPolicy } from './store/retry.ts';
import { rollUpRunSeconds } from './store/run-seconds.ts';
import { removeUndeclaredCodeSchedules } from './store/schedules.ts';
import type { Sql } from './store/sql.ts';
import { expireDeadlines, findLostRuns, requeueRuns } from './store/transitions.ts';
import { deactivateSilentWorkers, expireWorkers } from './store/workers.ts';
import type { WorkflowAdvancer } from './workflows/advancer.ts';

export interface SweeperOptions {
  sql: Sql;
  signals: Signals;
  metrics: Metrics;
  keys: KeyRing;
  intervalMs: number;
  workerTimeoutMs: number;
  workerExpiryMs: number;
  maxDeliveries: number;
  retry: RetryPolicy;
  /** Tells a worker to stop an attempt (best effort). */
  cancelOnWorker: (workerId: string, refs: { runId: string; attempt: number }[]) => Promise<void>;
  onError: (error: unknown) => void;
  /** Key reloads are rarer than sweeps: replicas pick up a rotation within this time. */
  keyReloadMs?: number;
  /** Finished runs are deleted this long after they finished; 0 keeps them all. */
  retentionMs: number;
  /** Most runs one delete statement takes. */
  retentionBatchSize: number;
  /** VACUUM and ANALYZE of the embedded store, when due. */
  upkeep: StoreUpkeep;
  /** Advances workflow runs whose task runs ended without a wake-up reaching them. */
  workflows: Pick<WorkflowAdvancer, 'sweep'>;
  /** Wakes runs whose child run ended without the wake-up reaching them. */
  children: Pick<ChildRunWaker, 'sweep'>;
  /** Cancels the live children of cancelled runs whose cascade a crash, or another replica, left unfinished. */
  childCancels: Pick<ChildRunCanceller, 'sweep'>;
}

/** Most delete statements in one sweep: a backlog of millions is deleted over many sweeps, none of them long. */
export const RETENTION_STATEMENTS_PER_SWEEP = 10;
/** Most spans of seconds one sweep rolls up: an hour's gap is caught up in 15 sample instants, a span a statement. */
export const ROLLUP_SPANS_PER_SWEEP = 4;
/** Idle rate limit keys are looked for at most this often: the look reads the keys of every live run. */
export const RATE_LIMIT_PRUNE_INTERVAL_MS = 60_000;

export class Sweeper {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private current: Promise<void> | undefined;
  private running = false;
  private lastKeyLoad = Date.now();
  private lastRateLimitPrune = Number.NEGATIVE_INFINITY;
  private lastQueueSample = Number.NaN;

  constructor(private readonly o: SweeperOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
  }

  /** One sweep, also callable directly (tests, after a restart). */
  async sweep(now = Date.now()): Promise<void> {
    const silent = await deactivateSilentWorkers(this.o.sql, now - this.o.workerTimeoutMs);
    if (silent.length > 0) {
      this.o.signals.workersChanged();
      this.o.metrics.count(
        'pushworker_workers_deactivated_total',
        'Workers marked INACTIVE.',
        {},
        silent.length,
      );
    }
    const expired = await expireWorkers(this.o.sql, now - this.o.workerExpiryMs);
    if (expired > 0) {
      // A schedule that only the expired workers declared goes with them.
      await removeUndeclaredCodeSchedules(this.o.sql);
      this.o.signals.workersChanged();
      this.o.metrics.count('pushworker_workers_expired_total', 'Gone workers removed.', {}, expired);
    }
    const lost = await findLostRuns(this.o.sql, now);
    if (lost.length > 0) {
      const { requeued, failed } = await requeueRuns(this.o.sql, lost, {
        now,
        maxDeliveries: this.o.maxDeliveries,
        reason: 'lease lost',
      });
      this.o.metrics.count(
        'pushworker_leases_lost_total',
        'Attempts re-queued after a lost lease.',
        {},
        requeued.length,
      );
      this.o.signals.done(failed);
      // Slots came free on workers the dispatcher cannot name here: it reloads its view of them.
      this.o.signals.workersChanged();
      this.o.signals.wake();
    }
    const lapsed = await expireQueuedRuns(this.o.sql, now);
    if (lapsed.length > 0) {
      this.o.metrics.count(
        'pushworker_runs_expired_total',
        'Queued runs failed by their queue deadline (ScheduleTimeout).',
        {},
        lapsed.length,
      );
      this.o.signals.done(lapsed);
    }
    const timedOut = await expireDeadlines(this.o.sql, now, this.o.retry);
    if (timedOut.length > 0) {
      this.o.metrics.count(
        'pushworker_timeouts_total',
        'Attempts failed by their execution timeout.',
        {},
        timedOut.length,
      );
      this.o.signals.done(timedOut.filter((t) => t.final).map((t) => t.runId));
      this.o.signals.freed(timedOut.map((t) => t.workerId));
      // A timed-out attempt may leave a place under a concurrency limit, or be queued again after a back-off.
      this.o.signals.wake();
      const byWorker = new Map<string, typeof timedOut>();
      for (const t of timedOut) byWorker.set(t.workerId, [...(byWorker.get(t.workerId) ?? []), t]);
      for (const [workerId, refs] of byWorker) await this.o.cancelOnWorker(workerId, refs).catch(() => {});
    }
    await this.o.workflows.sweep();
    await this.o.childCancels.sweep();
    await this.o.children.sweep();
    if (!this.o.keys.fixed && now - this.lastKeyLoad >= (this.o.keyReloadMs ?? 10_000)) {
      this.lastKeyLoad = now;
      await this.o.keys.load(now);
    }
    await this.recordCharts(now);
    const deleted = await this.deleteExpired(now);
    await this.pruneRateLimits(now);
    if (await this.o.upkeep.afterSweep(now, deleted)) {
      this.o.metrics.count(
        'pushworker_store_upkeeps_total',
        'VACUUM and ANALYZE of the embedded store, or ANALYZE alone of tables that outgrew their statistics.',
      );
    }
  }

  private async deleteExpired(now: number): Promise<number> {
    if (this.o.retentionMs === 0) return 0;
    const retention = {
      before: now - this.o.retentionMs,
      batchSize: this.o.retentionBatchSize,
      maxStatements: RETENTION_STATEMENTS_PER_SWEEP,
    };
    const deleted = await deleteExpiredRuns(this.o.sql, retention);
    const events = await deleteExpiredEvents(this.o.sql, retention);
    const workflowRuns = await deleteExpiredWorkflowRuns(this.o.sql, retention);
    if (workflowRuns > 0) {
      this.o.metrics.count(
        'pushworker_workflow_runs_deleted_total',
        'Ended workflow runs deleted after the retention period.',
        {},
        workflowRuns,
      );
    }
    if (events > 0) {
      this.o.metrics.count(
        'pushworker_events_deleted_total',
        'Published events deleted after the retention period.',
        {},
        events,
      );
    }
    if (deleted > 0) {
      this.o.metrics.count(
        'pushworker_runs_deleted_total',
        'Finished runs deleted after the retention period.',
        {},
        deleted,
      );
    }
    return deleted;
  }

  /** The charts' records, once per sample instant (a sweep runs more often): queue depths, settled seconds. */
  private async recordCharts(now: number): Promise<void> {
    const slot = Math.floor(now / QUEUE_SAMPLE_MS);
    if (slot === this.lastQueueSample) return;
    this.lastQueueSample = slot;
    await recordQueueSample(this.o.sql, now);
    for (let span = 0; span < ROLLUP_SPANS_PER_SWEEP; span++) {
      if ((await rollUpRunSeconds(this.o.sql, now)).caughtUp) break;
    }
  }

  private async pruneRateLimits(now: number): Promise<void> {
    if (this.o.retentionMs === 0 || now - this.lastRateLimitPrune < RATE_LIMIT_PRUNE_INTERVAL_MS) return;
    this.lastRateLimitPrune = now;
    const pruned = await pruneIdleRateLimits(
      this.o.sql,
      now - this.o.retentionMs,
      now,
      this.o.retentionBatchSize,
    );
    if (pruned > 0) {
      this.o.metrics.count(
        'pushworker_rate_limit_keys_pruned_total',
        'Declared rate limit keys deleted after the retention period without a live run using them.',
        {},
        pruned,
      );
    }
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.current = this.sweep()
        .catch(this.o.onError)
        .finally(() => {
          this.current = undefined;
          if (this.running) this.schedule();
        });
    }, this.o.intervalMs);
  }
}
