// A yes-or-no the store answers, believed for a while: a hot path asks it without a query most of the time.

/**
 * How long an answer is believed. While it is no, the work it guards is skipped; a yes made true on another
 * replica is seen within this time, and the sweeper catches up meanwhile.
 */
const BELIEVED_MS = 1_000;

export class Belief {
  private checkedAt = Number.NEGATIVE_INFINITY;
  private value = false;

  constructor(private readonly ask: () => Promise<boolean>) {}

  /** This replica just made it true: believed from now, without asking. */
  set(): void {
    this.value = true;
    this.checkedAt = Date.now();
  }

  async get(): Promise<boolean> {
    const now = Date.now();
    if (now - this.checkedAt < BELIEVED_MS) return this.value;
    this.value = await this.ask();
    this.checkedAt = now;
    return this.value;
  }
}
