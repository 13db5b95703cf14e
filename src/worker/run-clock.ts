// A pending run's timers: a tick every heartbeat interval, and a timeout at a deadline the task may move.

export type ClockState =
  | { phase: 'idle' }
  | {
      phase: 'ticking';
      heartbeat: ReturnType<typeof setInterval>;
      timeout: ReturnType<typeof setTimeout>;
      onTimeout: () => void;
    }
  | { phase: 'stopped' };

export class RunClock {
  private current: ClockState = { phase: 'idle' };

  constructor(
    private deadline: number,
    private readonly heartbeatMs: number,
  ) {}

  get state(): Readonly<ClockState> {
    return this.current;
  }

  /**
   * idle → ticking. Only a task that returns a promise needs it, and the timers are made in the caller's request:
   * on workerd that is the run's own, the one whose AbortController `onTick` may fire.
   */
  start(onTick: () => void, onTimeout: () => void): void {
    if (this.current.phase !== 'idle') return;
    const heartbeat = setInterval(onTick, this.heartbeatMs);
    this.current = { phase: 'ticking', heartbeat, timeout: this.timeoutAt(onTimeout), onTimeout };
  }

  /** Moves the deadline `ms` further away; while ticking, the timeout moves with it. */
  extend(ms: number): void {
    this.deadline += ms;
    const state = this.current;
    if (state.phase !== 'ticking') return;
    clearTimeout(state.timeout);
    this.current = { ...state, timeout: this.timeoutAt(state.onTimeout) };
  }

  /** → stopped, for good: the run's result is known, so nothing more is timed. */
  stop(): void {
    const state = this.current;
    if (state.phase === 'ticking') {
      clearInterval(state.heartbeat);
      clearTimeout(state.timeout);
    }
    this.current = { phase: 'stopped' };
  }

  private timeoutAt(onTimeout: () => void): ReturnType<typeof setTimeout> {
    return setTimeout(onTimeout, Math.max(0, this.deadline - Date.now()));
  }
}
