// The dispatcher's loop: rounds back to back while they find more, a sleep (the poll interval, or until the next
// run comes due) that a wake cuts short, a stop.

/** What one round found; the loop, not the round, decides what follows. */
export interface RoundResult {
  /** Some worker took a whole batch: more may be queued, so the next round starts at once. */
  more: boolean;
  /** Some worker ended the round full or held back: queued runs may be waiting for its slots. */
  workLeft: boolean;
  /** When the next queued run that is not due yet comes due (epoch ms): the sleep ends then, if sooner than the poll. */
  nextDueAt?: number | undefined;
}

/** A due time's round starts this much after it, so that the run is due by the round's clock. */
const DUE_MARGIN_MS = 2;

export type LoopState =
  | { phase: 'stopped' }
  /** A round is under way; `woken` once something asked for another since it began. */
  | { phase: 'round'; woken: boolean }
  | { phase: 'sleeping'; timer: ReturnType<typeof setTimeout>; resume: () => void }
  /** Stop was asked for: the round under way ends (it checks `active` between workers), and none follows. */
  | { phase: 'stopping' };

export interface LoopOptions {
  pollIntervalMs: number;
  round: () => Promise<RoundResult>;
  onError: (error: unknown) => void;
}

export class DispatchLoop {
  private current: LoopState = { phase: 'stopped' };
  /** Until a round has said otherwise, runs may be waiting for slots. */
  private left = true;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly o: LoopOptions) {}

  get state(): Readonly<LoopState> {
    return this.current;
  }

  /** True while rounds are to go on. */
  get active(): boolean {
    return this.current.phase === 'round';
  }

  /** True while a round is under way and another is already asked for: it starts as soon as this one ends. */
  get woken(): boolean {
    return this.current.phase === 'round' && this.current.woken;
  }

  /** Whether the last round that ended may have left queued runs behind, for want of slots or a held-back worker. */
  get workLeft(): boolean {
    return this.left;
  }

  /** stopped → round, or stopping → round (the loop still going carries on); false when already running. */
  start(): boolean {
    const { phase } = this.current;
    if (phase !== 'stopped' && phase !== 'stopping') return false;
    this.current = { phase: 'round', woken: false };
    if (phase === 'stopped') this.exited = this.run();
    return true;
  }

  /** Asks for a round: the one under way is followed by another at once, a sleep ends now. */
  wake(): void {
    if (this.current.phase === 'round') this.current = { phase: 'round', woken: true };
    else this.endSleep({ phase: 'round', woken: false });
  }

  /** Resolves once the round under way, if any, has ended. */
  async stop(): Promise<void> {
    if (this.current.phase === 'round') this.current = { phase: 'stopping' };
    else this.endSleep({ phase: 'stopping' });
    await this.exited;
  }

  private async run(): Promise<void> {
    while (this.current.phase === 'round') {
      let found: RoundResult | undefined;
      try {
        found = await this.o.round();
      } catch (error) {
        this.o.onError(error);
      }
      const sleep = this.roundEnded(found);
      if (sleep) await sleep;
    }
    this.current = { phase: 'stopped' };
  }

  /**
   * round → round at once (it found more, or was woken), or round → sleeping; a sleep to wait out is returned.
   * A round that threw says nothing about the work left, so the last answer stands.
   */
  private roundEnded(found: RoundResult | undefined): Promise<void> | undefined {
    if (found) this.left = found.workLeft || found.more;
    const state = this.current;
    if (state.phase !== 'round') return undefined;
    if (found?.more || state.woken) {
      this.current = { phase: 'round', woken: false };
      return undefined;
    }
    const sleepMs = this.sleepMs(found?.nextDueAt);
    if (sleepMs === 0) return undefined;
    return new Promise<void>((resume) => {
      const timer = setTimeout(() => this.endSleep({ phase: 'round', woken: false }), sleepMs);
      this.current = { phase: 'sleeping', timer, resume };
    });
  }

  /**
   * The poll interval, or less when a queued run comes due sooner: the sleep's one timer is then the due-time
   * timer, so there is never more than one, and every round sets it again from the store's next due time.
   */
  private sleepMs(nextDueAt: number | undefined): number {
    if (nextDueAt === undefined) return this.o.pollIntervalMs;
    return Math.min(this.o.pollIntervalMs, Math.max(0, nextDueAt - Date.now() + DUE_MARGIN_MS));
  }

  /** sleeping → round (the poll interval passed, or a wake) or → stopping; nothing when not sleeping. */
  private endSleep(next: LoopState): void {
    const state = this.current;
    if (state.phase !== 'sleeping') return;
    clearTimeout(state.timer);
    this.current = next;
    state.resume();
  }
}
