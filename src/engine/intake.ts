// Group-committed writes from the API: enqueued runs and worker event posts, with their effects published; and
// child runs, each spawn in a transaction of its own.
import { PushworkerError } from '../protocol/errors.ts';
import type { EventResult, RunEvent } from '../protocol/schemas.ts';
import { GroupCommit } from './group-commit.ts';
import type { Metrics } from './metrics.ts';
import type { Signals } from './signals.ts';
import { lockSpawningParent, spawnConflict } from './store/child-runs.ts';
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

/** How a worker's events came: an events post, a push's answer (`answerWithinMs`), a sync answer's results. */
export type EventsVia = 'post' | 'answer' | 'result';

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

  /**
   * Child runs of the attempt `parent`, not group-committed: in a transaction of their own that locks the parent
   * first (see `lockSpawningParent`) and refuses them, 409 `conflict`, unless that attempt is still under way. A
   * cancel of the parent either sees them, and cancels them too, or comes first, and no child is created.
   */
  async enqueueChildren(parent: { runId: string; attempt: number }, runs: NewRun[]): Promise<Inserted[]> {
    const inserted = await this.o.sql.transaction(async (tx) => {
      const run = await lockSpawningParent(tx, parent.runId);
      if (!run) throw new PushworkerError('not_found', 'the run was not found');
      const conflict = spawnConflict(run, parent.attempt);
      if (conflict) throw new PushworkerError('conflict', conflict);
      return insertRuns(tx, runs, Date.now());
    });
    this.inserted(inserted);
    return inserted;
  }

  /** One result per event; throws `forbidden` when an event is about another worker's run. */
  async postEvents(workerName: string, events: RunEvent[], via: EventsVia = 'post'): Promise<EventResult[]> {
    this.o.metrics.count(
      'pushworker_worker_events_total',
      "Events from workers, by how they came: posted, in a push's answer, or as a sync answer's results.",
      { via },
      events.length,
    );
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
    this.inserted(inserted);
    let at = 0;
    return batches.map((b) => {
      at += b.length;
      return inserted.slice(at - b.length, at);
    });
  }

  /** Runs just inserted: counted, and the dispatchers woken for them. */
  private inserted(inserted: Inserted[]): void {
    const created = inserted.filter((r) => r.created).length;
    if (created > 0) {
      this.o.metrics.count('pushworker_runs_enqueued_total', 'Runs enqueued.', {}, created);
      this.o.signals.wake();
    }
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
