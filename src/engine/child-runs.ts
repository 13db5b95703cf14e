// Wakes runs suspended on a child run when the child ends: at once when it ends on this replica, or when its
// parent suspends after it ended, and from the sweeper for a wake-up lost to a crash.
import { Belief } from './belief.ts';
import type { Metrics } from './metrics.ts';
import type { Signals } from './signals.ts';
import { anyWaitingOnChild, wakeParents } from './store/child-waits.ts';
import type { Sql } from './store/sql.ts';

export class ChildRunWaker {
  /** Whether any run waits on a child: while none does, an ended run costs no look for its parent. */
  private readonly anyWaiting: Belief;

  constructor(
    private readonly o: { sql: Sql; signals: Signals; metrics: Metrics; onError: (error: unknown) => void },
  ) {
    this.anyWaiting = new Belief(() => anyWaitingOnChild(o.sql));
    o.signals.onFinishedHere((ids) => {
      void this.ended(ids).catch(o.onError);
    });
  }

  /** Runs suspended on these children: a child that ended before its parent's suspension wakes it now. */
  async waitedOn(childIds: string[]): Promise<void> {
    this.anyWaiting.set();
    await this.wake(childIds);
  }

  async sweep(): Promise<void> {
    await this.wake(undefined);
  }

  private async ended(ids: string[]): Promise<void> {
    if (await this.anyWaiting.get()) await this.wake(ids);
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
}
