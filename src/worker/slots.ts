// The slot budget: a worker never holds more slot units than it was given.

export class SlotBudget {
  private inUse = 0;

  constructor(readonly total: number) {
    if (!Number.isInteger(total) || total < 1) throw new TypeError('slots must be a positive integer');
  }

  get used(): number {
    return this.inUse;
  }

  tryReserve(units: number): boolean {
    if (this.inUse + units > this.total) return false;
    this.inUse += units;
    return true;
  }

  release(units: number): void {
    this.inUse = Math.max(0, this.inUse - units);
  }
}
