// Group-committed writes from the API: enqueued runs and worker event posts, with their effects published.
import type { EventResult, RunEvent } from '../protocol/schemas.ts';
import { GroupCommit } from './group-commit.ts';
import type { Metrics } from './metrics.ts';
import type { Signals } from './signals.ts';
import { applyEventPosts, type EventPost, type PostOutcome } from './store/events.ts';
import type { RetryPolicy } from './store/retry.ts';
import { type Inserted, insertRuns, type NewRun } from './store/runs.ts';
import type { Sql } from './store/sql.ts';

export interface IntakeOptions {
  sql: Sql;
  signals: Signals;
  metrics: Metrics;
  leaseMs: number;
  retry: RetryPolicy;
  /** Runs suspended on these child runs in the batch just applied. */
  onChildWaits?: (childIds: string[]) => void;
  /**
   * Runs the batch just applied ended, with the workflow runs of those that are workflow tasks: told before the
   * signal that they ended, so that nothing looks their workflow runs up again.
   */
  onRunsEnded?: (runIds: string[], workflowRunIds: string[]) => void;
}

/**
 * Concurrent requests share store calls: all the runs enqueued while an insert is running go in the next
 * insert, and all the events posted while a batch is applied go in the next transaction. Each request still
 * gets its own answer, and a post refused (another worker's run) applies none of its events.
 */
export class Intake {
  private readonly runs: GroupCommit<NewRun[], Inserted[]>;
  private readonly events: GroupCommit<EventPost, PostOutcome>;

  constructor(private readonly o: IntakeOptions) {
    this.runs = new GroupCommit((batches) => this.insert(batches));
    this.events = new GroupCommit((posts) => this.apply(posts), 500);
  }

  enqueue(runs: NewRun[]): Promise<Inserted[]> {
    return this.runs.submit(runs);
  }

  /** One result per event; throws `forbidden` when an event is about another worker's run. */
  async postEvents(workerName: string, events: RunEvent[]): Promise<EventResult[]> {
    const outcome = await this.events.submit({ workerName, events });
    if ('error' in outcome) throw outcome.error;
    return outcome.results;
  }

  /** Resolves when nothing submitted is still being written. */
  async idle(): Promise<void> {
    await Promise.all([this.runs.idle(), this.events.idle()]);
  }

  private async insert(batches: NewRun[][]): Promise<Inserted[][]> {
    const inserted = await insertRuns(this.o.sql, batches.flat(), Date.now());
    const created = inserted.filter((r) => r.created).length;
    if (created > 0) {
      this.o.metrics.count('pushworker_runs_enqueued_total', 'Runs enqueued.', {}, created);
      this.o.signals.wake();
    }
    let at = 0;
    return batches.map((b) => {
      at += b.length;
      return inserted.slice(at - b.length, at);
    });
  }

  private async apply(posts: EventPost[]): Promise<PostOutcome[]> {
    const outcome = await applyEventPosts(this.o.sql, posts, {
      now: Date.now(),
      leaseMs: this.o.leaseMs,
      retry: this.o.retry,
    });
    for (const { task, ms } of outcome.ranFor) this.o.metrics.ranFor(task, ms);
    if (outcome.rereads > 0) {
      this.o.metrics.count(
        'pushworker_event_rereads_total',
        'Event batches read again because a run changed between their read and their write.',
        {},
        outcome.rereads,
      );
    }
    if (outcome.finished.length > 0) {
      this.o.metrics.count(
        'pushworker_runs_finished_total',
        'Runs that reached a terminal state.',
        {},
        outcome.finished.length,
      );
    }
    if (outcome.finished.length > 0) this.o.onRunsEnded?.(outcome.finished, [...outcome.workflowRuns]);
    this.o.signals.done(outcome.finished);
    this.o.signals.freed(outcome.freed.keys());
    // Free slots wake the dispatcher only when it left work for want of them; a place under a concurrency limit,
    // or a retry queued after its back-off (the round that follows times its next round by it), always does.
    if (outcome.unblocks) this.o.signals.wake();
    if (outcome.childWaits.length > 0) this.o.onChildWaits?.(outcome.childWaits);
    return outcome.posts;
  }
}
