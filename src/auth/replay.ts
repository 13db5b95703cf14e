// Replay protection: a `jti` is accepted once until its token expires.

export interface ReplayStore {
  /** Records `jti` until `expiresAtS` (unix seconds). Resolves false when it was already recorded. */
  claim(jti: string, expiresAtS: number): boolean | Promise<boolean>;
}

/**
 * In-memory store, bounded by `max` entries. Entries leave when their token expires; when the store
 * is full of live entries the one closest to expiry is evicted first (and counted in `evictions`), so
 * memory stays bounded at the cost of a shorter replay window under extreme load. A store is per
 * process (per isolate on workerd): give several replicas a shared store to extend protection across them.
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, number>();
  evictions = 0;

  constructor(
    private readonly max = 100_000,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  claim(jti: string, expiresAtS: number): boolean {
    const now = this.now();
    const known = this.seen.get(jti);
    if (known !== undefined && known >= now) return false;
    if (known !== undefined) this.seen.delete(jti);
    this.sweep(now);
    this.seen.set(jti, expiresAtS);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  // Tokens carry a near-constant lifetime, so insertion order is close to expiry order.
  private sweep(now: number): void {
    for (const [jti, exp] of this.seen) {
      if (exp >= now && this.seen.size < this.max) break;
      this.seen.delete(jti);
      if (exp >= now) this.evictions++;
    }
  }
}
