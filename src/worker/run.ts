// One run of one task: its context, automatic heartbeats, timeout, abort reasons and the events it raises.
import type { Assignment, RunEvent, RunResult, TaskError } from '../protocol/schemas.ts';
import { childLogger, type Logger } from './log.ts';
import type { EventOutcome, EventReporter } from './reporter.ts';
import { RunClock } from './run-clock.ts';
import type { SlotBudget } from './slots.ts';
import { type AnyTask, NonRetryableError, type TaskContext } from './task.ts';

/** Why a run's signal fired; the name becomes the failed event's `error.name`. */
export type AbortName = 'Cancelled' | 'TimeoutError' | 'Stale' | 'WorkerShutdown';

export class RunAborted extends Error {
  constructor(
    override readonly name: AbortName,
    message: string,
  ) {
    super(message);
  }

  get retryable(): boolean {
    return this.name === 'TimeoutError' || this.name === 'WorkerShutdown';
  }
}

export interface RunHooks {
  reporter: EventReporter;
  slots: SlotBudget;
  log: Logger;
  heartbeatMs: number;
  /** Where events go when the assignment names no `eventsUrl`. */
  defaultEventsUrl?: string;
  /** False when the caller reports the outcome itself (Hatchet's HTTP operator): no events are posted. */
  eventsEnabled?: boolean;
  onStarted(run: ActiveRun): void;
  onFinished(run: ActiveRun, result: RunResult | undefined): void;
  /** The task function returned or threw: its slots (if still held) are free again. */
  onSettled(run: ActiveRun): void;
}

type Outcome = { output: unknown } | { error: unknown };

export class ActiveRun {
  readonly key: string;
  /** Resolves once the task function has returned or thrown, and its slots are free; set by `execute`. */
  settled?: Promise<unknown>;
  private controller?: AbortController;
  private slotHeld = true;
  private readonly clock: RunClock;
  private readonly eventsUrl?: string;
  private abortReason?: RunAborted;
  /** The abort has been applied: the signal fired, or there was no signal yet (it is then made aborted). */
  private abortFired = false;
  /** Ends `execute`'s wait for the outcome, once the abort has been applied. */
  private onAborted?: () => void;

  constructor(
    readonly assignment: Assignment,
    readonly task: AnyTask,
    readonly input: unknown,
    readonly slotCost: number,
    private readonly hooks: RunHooks,
  ) {
    this.key = runKey(assignment);
    this.clock = new RunClock(Date.now() + (assignment.timeoutMs ?? task.timeoutMs), hooks.heartbeatMs);
    this.eventsUrl =
      hooks.eventsEnabled === false ? undefined : (assignment.eventsUrl ?? hooks.defaultEventsUrl);
  }

  /**
   * Made on first use, or once the task function has returned a promise, whichever comes first: either way within
   * the run's own request, which on workerd owns the controller (see `abort`).
   */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortFired) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** True once an abort was asked for (read this, not `signal.aborted`, from outside the run). */
  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  abort(name: AbortName, message: string): void {
    if (this.abortReason) return;
    this.abortReason = new RunAborted(name, message);
    try {
      this.fireAbort();
    } catch {
      // workerd binds an AbortController to the request that made it, so a cancel arriving on another
      // request cannot touch it: the run's own heartbeat tick applies the abort instead.
    }
  }

  private fireAbort(): void {
    this.controller?.abort(this.abortReason);
    this.abortFired = true;
    this.onAborted?.();
  }

  /** Runs the task. Resolves with the result once it is known: on return, throw, or abort, whichever comes first. */
  async execute(): Promise<RunResult | undefined> {
    const { hooks } = this;
    this.emit({ type: 'started' });
    hooks.onStarted(this);
    const settled = this.invoke().finally(() => {
      this.releaseSlots();
      hooks.onSettled(this);
    });
    this.settled = settled;
    // The task returning or throwing, or the abort being applied, whichever comes first (after an abort the result
    // is its reason, whatever the outcome).
    const outcome = await new Promise<Outcome | undefined>((resolve, reject) => {
      this.onAborted = () => resolve(undefined);
      settled.then(resolve, reject);
    });
    this.clock.stop();

    const result = this.toResult(outcome);
    if (result)
      this.emit(
        result.status === 'completed'
          ? { type: 'completed', output: result.output }
          : { type: 'failed', error: result.error! },
      );
    hooks.onFinished(this, result);
    return result;
  }

  private async invoke(): Promise<Outcome> {
    // The methods use `run`, not `this`: they still work when a task destructures them off `ctx`.
    const run = this;
    const ctx: TaskContext = {
      runId: this.assignment.runId,
      attempt: this.assignment.attempt,
      task: this.task.name,
      metadata: this.assignment.metadata ?? {},
      get signal() {
        return run.signal;
      },
      heartbeat() {
        return run.sendHeartbeat();
      },
      releaseSlot() {
        if (run.releaseSlots()) run.emit({ type: 'slot_released' });
      },
      refreshTimeout(ms) {
        if (!Number.isInteger(ms) || ms <= 0)
          throw new TypeError('refreshTimeout takes a positive whole number of ms');
        run.clock.extend(ms);
        run.emit({ type: 'timeout_refreshed', incrementMs: ms });
      },
      log: childLogger(run.hooks.log, { task: run.task.name, runId: run.assignment.runId }),
    };
    try {
      const returned = this.task.run(this.input, ctx);
      // A task that has returned already needs no heartbeats, no timeout and no signal of its own.
      if (typeof (returned as PromiseLike<unknown> | null | undefined)?.then === 'function')
        this.whileRunning();
      return { output: await returned };
    } catch (error) {
      return { error };
    }
  }

  private whileRunning(): void {
    void this.signal;
    this.clock.start(
      () => {
        if (this.abortReason && !this.abortFired) this.fireAbort();
        else void this.sendHeartbeat();
      },
      () => this.abort('TimeoutError', `the run timed out`),
    );
  }

  // Stale: the engine has moved on, so nothing more is said about this attempt.
  private toResult(outcome: Outcome | undefined): RunResult | undefined {
    const { runId, attempt } = this.assignment;
    if (!outcome || this.abortFired) {
      const reason = this.abortReason!;
      if (reason.name === 'Stale') return undefined;
      return {
        runId,
        attempt,
        status: 'failed',
        error: { name: reason.name, message: reason.message, retryable: reason.retryable },
      };
    }
    if ('error' in outcome) return { runId, attempt, status: 'failed', error: toTaskError(outcome.error) };
    const output = outcome.output ?? null;
    try {
      JSON.stringify(output);
    } catch (error) {
      const message = `the task's output is not JSON: ${(error as Error).message}`;
      return {
        runId,
        attempt,
        status: 'failed',
        error: { name: 'OutputNotSerializable', message, retryable: false },
      };
    }
    return { runId, attempt, status: 'completed', output };
  }

  private async sendHeartbeat(): Promise<void> {
    await this.emit({ type: 'heartbeat' });
  }

  private releaseSlots(): boolean {
    if (!this.slotHeld) return false;
    this.slotHeld = false;
    this.hooks.slots.release(this.slotCost);
    return true;
  }

  /** `event` is a fresh object from the caller, completed in place (a spread with keys after it is slow on V8). */
  private emit(event: DistributiveOmit<RunEvent, 'runId' | 'attempt' | 'at'>): Promise<void> {
    const full = event as RunEvent;
    full.runId = this.assignment.runId;
    full.attempt = this.assignment.attempt;
    full.at = new Date().toISOString();
    return this.hooks.reporter.report(this.eventsUrl, full).then((outcome: EventOutcome) => {
      if (outcome === 'stale') this.abort('Stale', 'the engine no longer considers this attempt current');
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export function runKey(ref: { runId: string; attempt: number }): string {
  return `${ref.runId}#${ref.attempt}`;
}

export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, retryable: !(error instanceof NonRetryableError) };
  }
  return { name: 'Error', message: String(error), retryable: true };
}
