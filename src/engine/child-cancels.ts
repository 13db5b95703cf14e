// Cancels the live child runs of cancelled runs, and theirs in turn: awaited by a cancel through the API (or of a
// workflow run), started by a cancelling concurrency strategy, and run by every sweep, which finishes a cascade a
// crash or another replica left flagged.
import type { Metrics } from './metrics.ts';
import { announceCancelled, type CancelNotice } from './run-cancel.ts';
import { cancelChildrenOfCancelled } from './store/child-runs.ts';
import type { Sql } from './store/sql.ts';

/**
 * A batch that changed nothing because the runs it would take were locked elsewhere (a claim, an event batch, a
 * spawn, another replica's batch: each a moment) is tried again after a pause, this many times at most; what is
 * still left then, the next sweep takes.
 */
const BLOCKED_PAUSES = 20;
const BLOCKED_PAUSE_MS = 10;

export interface ChildRunCancellerOptions extends CancelNotice {
  sql: Sql;
  metrics: Metrics;
  onError: (error: unknown) => void;
}

export class ChildRunCanceller {
  /** The cascade under way on this replica, and the one that follows it for callers that came meanwhile. */
  private current: Promise<number> | undefined;
  private next: Promise<number> | undefined;

  constructor(private readonly o: ChildRunCancellerOptions) {}

  /**
   * Runs batches until one changes nothing (see `BLOCKED_PAUSES`); resolves with how many child runs it
   * cancelled. A call while one is under way here waits for it and then runs again (once for all such calls): a
   * run flagged after the running cascade read the flagged runs is then taken too.
   */
  run(): Promise<number> {
    if (!this.current) {
      this.current = this.cascade().finally(() => {
        this.current = undefined;
      });
      return this.current;
    }
    this.next ??= this.current
      .catch(() => {})
      .then(() => {
        this.next = undefined;
        return this.run();
      });
    return this.next;
  }

  /** Starts the cascade without waiting for it (a cancelling concurrency strategy's enqueue answers at once). */
  start(): void {
    this.run().catch(this.o.onError);
  }

  /** Resolves when no cascade is under way here (the engine's stop waits for one that was started). */
  async idle(): Promise<void> {
    while (this.current || this.next) await (this.next ?? this.current)!.catch(() => {});
  }

  /** The sweep's pass. */
  async sweep(): Promise<void> {
    await this.run();
  }

  private async cascade(): Promise<number> {
    let total = 0;
    let pauses = 0;
    for (;;) {
      const { cancelled, cleared, blocked } = await cancelChildrenOfCancelled(this.o.sql);
      if (cancelled.length > 0) {
        total += cancelled.length;
        this.o.metrics.count(
          'pushworker_child_runs_cancelled_total',
          'Child runs cancelled because their parent run was cancelled (ParentCancelled).',
          {},
          cancelled.length,
        );
        announceCancelled(this.o, cancelled);
      }
      if (cancelled.length > 0 || cleared > 0) {
        pauses = 0;
        continue;
      }
      // Nothing changed: done, unless locks held elsewhere for a moment stood in the way.
      if (blocked === 0 || pauses >= BLOCKED_PAUSES) return total;
      pauses++;
      await new Promise((resolve) => setTimeout(resolve, BLOCKED_PAUSE_MS));
    }
  }
}
