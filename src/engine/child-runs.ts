// Wakes runs suspended on a child run when the child ends: at once when it ends on this replica, or when its
// parent suspends after it ended, and from the sweeper for a wake-up lost to a crash.
import type { Metrics } from './metrics.ts';
import type { Signals } from './signals.ts';
import { anyWaitingOnChild, wakeParents } from './store/child-waits.ts';
import type { Sql } from './store/sql.ts';

/**
 * How long the answer to "does any run wait on a child?" is believed. While none does, an ended run costs no
 * look for its parent; a parent suspended on another replica is woken by the sweeper until the belief is renewed.
 */
const IDLE_BELIEF_MS = 1_000;

export class ChildRunWaker {
  private checkedAt = Number.NEGATIVE_INFINITY;
  private anyWaiting = false;

  constructor(
    private readonly o: { sql: Sql; signals: Signals; metrics: Metrics; onError: (error: unknown) => void },
  ) {
    o.signals.onFinishedHere((ids) => {
      void this.ended(ids).catch(o.onError);
    });
  }

  /** Runs suspended on these children: a child that ended before its parent's suspension wakes it now. */
  async waitedOn(childIds: string[]): Promise<void> {
    this.anyWaiting = true;
    this.checkedAt = Date.now();
    await this.wake(childIds);
  }

  async sweep(): Promise<void> {
    await this.wake(undefined);
  }

  private async ended(ids: string[]): Promise<void> {
    if (await this.mayBeWaiting()) await this.wake(ids);
  }

  private async wake(childIds: string[] | undefined): Promise<void> {
    const woken = await wakeParents(this.o.sql, childIds, Date.now());
    if (woken.length === 0) return;
    this.o.metrics.count(
      'pushworker_child_waits_woken_total',
      'Runs woken by the end of a child run.',
      {},
      woken.length,
    );
    this.o.signals.wake();
  }

  private async mayBeWaiting(): Promise<boolean> {
    const now = Date.now();
    if (now - this.checkedAt < IDLE_BELIEF_MS) return this.anyWaiting;
    this.anyWaiting = await anyWaitingOnChild(this.o.sql);
    this.checkedAt = now;
    return this.anyWaiting;
  }
}
