// One run of one task: its context, automatic heartbeats, timeout, abort reasons and the events it raises.
import type { Assignment, RunEvent, RunResult, TaskError } from '../protocol/schemas.ts';
import { childLogger, type Logger } from './log.ts';
import type { EventOutcome, EventReporter } from './reporter.ts';
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

export class ActiveRun {
  readonly key: string;
  private readonly controller = new AbortController();
  private slotHeld = true;
  private deadline: number;
  private timeoutTimer?: ReturnType<typeof setTimeout>;
  private heartbeatTimer?: ReturnType<typeof setInterval>;
  private readonly eventsUrl?: string;
  private abortReason?: RunAborted;

  constructor(
    readonly assignment: Assignment,
    readonly task: AnyTask,
    readonly input: unknown,
    readonly slotCost: number,
    private readonly hooks: RunHooks,
  ) {
    this.key = runKey(assignment);
    this.deadline = Date.now() + (assignment.timeoutMs ?? task.timeoutMs);
    this.eventsUrl =
      hooks.eventsEnabled === false ? undefined : (assignment.eventsUrl ?? hooks.defaultEventsUrl);
  }

  get signal(): AbortSignal {
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
      this.controller.abort(this.abortReason);
    } catch {
      // workerd binds an AbortController to the request that made it, so a cancel arriving on another
      // request cannot touch it: the run's own heartbeat tick applies the abort instead.
    }
  }

  /** Runs the task. Resolves with the result once it is known: on return, throw, or abort, whichever comes first. */
  async execute(): Promise<RunResult | undefined> {
    const { hooks } = this;
    this.emit({ type: 'started' });
    hooks.onStarted(this);
    this.heartbeatTimer = setInterval(() => {
      if (this.abortReason && !this.signal.aborted) this.controller.abort(this.abortReason);
      else void this.sendHeartbeat();
    }, hooks.heartbeatMs);
    this.armTimeout();

    const settled = this.invoke().finally(() => {
      this.releaseSlots();
      hooks.onSettled(this);
    });
    const aborted = new Promise<{ error: unknown }>((resolve) =>
      this.signal.addEventListener('abort', () => resolve({ error: this.signal.reason }), { once: true }),
    );
    const outcome = await Promise.race([settled, aborted]);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.timeoutTimer);

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

  private async invoke(): Promise<{ output: unknown } | { error: unknown }> {
    const ctx: TaskContext = {
      runId: this.assignment.runId,
      attempt: this.assignment.attempt,
      task: this.task.name,
      metadata: this.assignment.metadata ?? {},
      signal: this.signal,
      heartbeat: () => this.sendHeartbeat(),
      releaseSlot: () => {
        if (this.releaseSlots()) this.emit({ type: 'slot_released' });
      },
      refreshTimeout: (ms) => {
        if (!Number.isInteger(ms) || ms <= 0)
          throw new TypeError('refreshTimeout takes a positive whole number of ms');
        this.deadline += ms;
        this.armTimeout();
        this.emit({ type: 'timeout_refreshed', incrementMs: ms });
      },
      log: childLogger(this.hooks.log, { task: this.task.name, runId: this.assignment.runId }),
    };
    try {
      return { output: await this.task.run(this.input, ctx) };
    } catch (error) {
      return { error };
    }
  }

  // Stale: the engine has moved on, so nothing more is said about this attempt.
  private toResult(outcome: { output: unknown } | { error: unknown }): RunResult | undefined {
    const ref = { runId: this.assignment.runId, attempt: this.assignment.attempt };
    if (this.signal.aborted) {
      const reason = this.signal.reason as RunAborted;
      if (reason.name === 'Stale') return undefined;
      return {
        ...ref,
        status: 'failed',
        error: { name: reason.name, message: reason.message, retryable: reason.retryable },
      };
    }
    if ('error' in outcome) return { ...ref, status: 'failed', error: toTaskError(outcome.error) };
    const output = outcome.output ?? null;
    try {
      JSON.stringify(output);
    } catch (error) {
      const message = `the task's output is not JSON: ${(error as Error).message}`;
      return {
        ...ref,
        status: 'failed',
        error: { name: 'OutputNotSerializable', message, retryable: false },
      };
    }
    return { ...ref, status: 'completed', output };
  }

  private armTimeout(): void {
    clearTimeout(this.timeoutTimer);
    const ms = Math.max(0, this.deadline - Date.now());
    this.timeoutTimer = setTimeout(() => this.abort('TimeoutError', `the run timed out`), ms);
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

  private emit(event: DistributiveOmit<RunEvent, 'runId' | 'attempt' | 'at'>): Promise<void> {
    const full = {
      ...event,
      runId: this.assignment.runId,
      attempt: this.assignment.attempt,
      at: new Date().toISOString(),
    } as RunEvent;
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
