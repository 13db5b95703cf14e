// Group commit: items submitted while a flush is running go to the store together in the next one.

interface Pending<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Calls `flush` with every item submitted since the last call, one call at a time. An idle group commit
 * flushes at once (after the current tick), so a lone caller waits for nothing; under load one store call
 * serves many callers. When a flush of several items throws, each item is retried alone so one bad item fails only itself.
 */
export class GroupCommit<I, O> {
  private pending: Pending<I, O>[] = [];
  private draining: Promise<void> | undefined;

  constructor(
    private readonly flush: (items: I[]) => Promise<O[]>,
    private readonly maxItems = 1_000,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.draining ??= Promise.resolve().then(() => this.drain());
    });
  }

  /** Resolves once everything submitted so far has been flushed. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxItems);
      try {
        const out = await this.flush(batch.map((p) => p.item));
        batch.forEach((p, i) => {
          p.resolve(out[i]!);
        });
      } catch (error) {
        if (batch.length === 1) batch[0]!.reject(error);
        else for (const p of batch) await this.flush([p.item]).then(([out]) => p.resolve(out!), p.reject);
      }
    }
    this.draining = undefined;
  }
}
