// One run of one task: its context, automatic heartbeats, timeout, abort reasons and the events it raises.
import {
  type Assignment,
  MAX_STACK_CHARS,
  type RunEvent,
  type RunResult,
  type TaskError,
} from '../protocol/schemas.ts';
import type { TraceSpan } from '../tracing/tracing.ts';
import type { ChildSpawner } from './child-spawner.ts';
import { DurableRun, SuspendRequested } from './durable.ts';
import type { HeldEvents } from './held-events.ts';
import { childLogger, type Logger, type LogLevel } from './log.ts';
import type { EventReporter, ReportOutcome } from './reporter.ts';
import { RunClock } from './run-clock.ts';
import { type RunTracing, untraced } from './run-tracing.ts';
import type { SlotBudget } from './slots.ts';
import { type AnyTask, NonRetryableError, type TaskContext } from './task.ts';
import { forwardingLogger, TaskLog } from './task-log.ts';

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
  /** Asks the engine for child runs (`ctx.spawn`, `ctx.runChild`). */
  children?: ChildSpawner;
  /** False when the caller reports the outcome itself (Hatchet's HTTP operator): no events are posted. */
  eventsEnabled?: boolean;
  /** The lowest level of the task's own lines (`ctx.log`) sent to the engine with its events; default `info`. */
  runLogLevel?: LogLevel;
  /** Run spans; undefined unless tracing is on. */
  tracing?: RunTracing | undefined;
  onStarted(run: ActiveRun): void;
  onFinished(run: ActiveRun, result: RunResult | undefined): void;
  /** The task function returned or threw: its slots (if still held) are free again. */
  onSettled(run: ActiveRun): void;
}

type Outcome = { output: unknown } | { error: unknown };

/**
 * Where a run stands. Its result is decided by whichever comes first, the task's outcome or an applied abort, and
 * nothing changes it after that; the task function may go on, holding its slots, until it returns.
 */
export type RunState =
  | { phase: 'running' }
  /** Asked for but not applied: on workerd a cancel arriving on another request cannot fire the run's signal. */
  | { phase: 'aborting'; reason: RunAborted }
  /** The signal fired, or is made aborted when first read; the result is the reason. */
  | { phase: 'aborted'; reason: RunAborted }
  /** The task returned or threw before an abort was applied; the result is its outcome. */
  | { phase: 'returned'; outcome: Outcome };

type Decided = Extract<RunState, { phase: 'aborted' | 'returned' }>;

export class ActiveRun {
  readonly key: string;
  private current: RunState = { phase: 'running' };
  /** Resolves once the result is decided; rejects only when a hook throws as the task settles. */
  private readonly decision = deferred<Decided>();
  private slotHold: 'held' | 'released' = 'held';
  private controller?: AbortController;
  private readonly clock: RunClock;
  private readonly eventsUrl?: string;
  private durableRun?: DurableRun;
  /** A step of this attempt was recorded: its event must reach the engine before the attempt's end does. */
  recordedSteps = false;
  /** The task's lines for the engine; none when no events are posted. */
  private readonly taskLog?: TaskLog;

  constructor(
    readonly assignment: Assignment,
    readonly task: AnyTask,
    readonly input: unknown,
    readonly slotCost: number,
    private readonly hooks: RunHooks,
    /** Where the run's events wait while its push's answer may carry them; posted at once without it. */
    private readonly held?: HeldEvents,
  ) {
    this.key = runKey(assignment);
    this.clock = new RunClock(Date.now() + (assignment.timeoutMs ?? task.timeoutMs), hooks.heartbeatMs);
    this.eventsUrl =
      hooks.eventsEnabled === false ? undefined : (assignment.eventsUrl ?? hooks.defaultEventsUrl);
    const level = hooks.runLogLevel ?? 'info';
    if (this.eventsUrl && level !== 'silent')
      this.taskLog = new TaskLog((line) => void this.emit({ type: 'log', ...line }), level);
  }

  get state(): Readonly<RunState> {
    return this.current;
  }

  /** Made on the first step, sleep or wait: a run that uses none costs nothing. */
  private get durable(): DurableRun {
    this.durableRun ??= new DurableRun(
      { ...this.assignment.journal },
      (name, output) => {
        this.recordedSteps = true;
        void this.emit({ type: 'step', name, output });
      },
      (key, task, input) => {
        const children = this.hooks.children;
        if (!children) throw new Error('this worker cannot ask an engine for child runs');
        const parent = { runId: this.assignment.runId, attempt: this.assignment.attempt };
        return children.spawn(this.eventsUrl, { parent, key, task, input });
      },
    );
    return this.durableRun;
  }

  /**
   * Made on first use, or once the task function has returned a promise, whichever comes first: either way within
   * the run's own request, which on workerd owns the controller (see `applyAbort`).
   */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.current.phase === 'aborted') this.controller.abort(this.current.reason);
    }
    return this.controller.signal;
  }

  /** True once an abort was asked for (read this, not `signal.aborted`, from outside the run). */
  get aborted(): boolean {
    return this.current.phase === 'aborting' || this.current.phase === 'aborted';
  }

  /** running → aborting, applied at once where it can be; the first reason wins. */
  abort(name: AbortName, message: string): void {
    if (this.current.phase !== 'running') return;
    this.current = { phase: 'aborting', reason: new RunAborted(name, message) };
    this.applyAbort();
  }

  /** aborting → aborted: the signal fires, and the reason is the result. */
  private applyAbort(): void {
    const state = this.current;
    if (state.phase !== 'aborting') return;
    try {
      this.controller?.abort(state.reason);
    } catch {
      // workerd binds an AbortController to the request that made it, so a cancel arriving on another
      // request cannot touch it: the run stays aborting, and its own heartbeat tick applies the abort.
      return;
    }
    this.decide({ phase: 'aborted', reason: state.reason });
  }

  /** running or aborting → returned: the task's outcome came before an abort was applied. */
  private returned(outcome: Outcome): void {
    if (this.current.phase === 'running' || this.current.phase === 'aborting')
      this.decide({ phase: 'returned', outcome });
  }

  private decide(state: Decided): void {
    this.current = state;
    this.decision.resolve(state);
  }

  /**
   * Runs the task. `result` resolves once the result is known: on return, throw, or abort, whichever comes first;
   * `settled` once the task function has returned or thrown, and its slots are free.
   */
  execute(): { result: Promise<RunResult | undefined>; settled: Promise<unknown> } {
    const { hooks } = this;
    this.emit({ type: 'started' });
    hooks.onStarted(this);
    const settled = this.invoke().finally(() => {
      this.releaseSlots();
      hooks.onSettled(this);
    });
    settled.then((outcome) => this.returned(outcome), this.decision.reject);
    return { result: this.finish(), settled };
  }

  private async finish(): Promise<RunResult | undefined> {
    const decided = await this.decision.promise;
    this.clock.stop();
    const result = this.resultOf(decided);
    // The count of dropped lines goes before the terminal event, after which nothing of the attempt is applied.
    this.taskLog?.close(result !== undefined);
    if (result) this.emit(endEventOf(result));
    this.hooks.onFinished(this, result);
    return result;
  }

  private async invoke(): Promise<Outcome> {
    // The methods use `run`, not `this`: they still work when a task destructures them off `ctx`.
    const run = this;
    let span: TraceSpan | undefined;
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
      log: this.taskLogger(),
      workflowRunId: this.assignment.workflowRunId,
      parentOutput: (parent) => parentOutputOf(this.task, this.assignment, parent),
      step: (name, fn) => run.durable.step(name, fn),
      sleep: (ms, name) => run.durable.sleep(ms, name),
      waitFor: (event, options) => run.durable.waitFor(event, options),
      spawn: (task, input, options) => run.durable.spawn(task, input, options),
      runChild: (task, input, options) => run.durable.runChild(task, input, options),
      span: (name, fn) => (span ? span.child(name, fn) : untraced(fn)),
    };
    try {
      if (this.hooks.tracing) span = await this.hooks.tracing.start(this.assignment);
      const returned = span
        ? span.within(() => this.task.run(this.input, ctx))
        : this.task.run(this.input, ctx);
      // A task that has returned already needs no heartbeats, no timeout and no signal of its own.
      if (typeof (returned as PromiseLike<unknown> | null | undefined)?.then === 'function')
        this.whileRunning();
      return { output: await returned };
    } catch (error) {
      if (!(error instanceof SuspendRequested)) span?.fail(toTaskError(error).message);
      return { error };
    } finally {
      span?.end();
    }
  }

  /** Tagged with the task and run locally; the engine gets the task's own fields only. */
  private taskLogger(): Logger {
    const local = childLogger(this.hooks.log, { task: this.task.name, runId: this.assignment.runId });
    return this.taskLog ? forwardingLogger(local, this.taskLog) : local;
  }

  private whileRunning(): void {
    void this.signal;
    this.clock.start(
      () => this.tick(),
      () => this.abort('TimeoutError', `the run timed out`),
    );
  }

  /** Runs in the run's own request: an abort still waiting is applied there, in place of a heartbeat. */
  private tick(): void {
    if (this.current.phase === 'aborting') this.applyAbort();
    else void this.sendHeartbeat();
  }

  // Stale: the engine has moved on, so nothing more is said about this attempt.
  private resultOf(decided: Decided): RunResult | undefined {
    const { runId, attempt } = this.assignment;
    if (decided.phase === 'aborted') {
      const { reason } = decided;
      if (reason.name === 'Stale') return undefined;
      return {
        runId,
        attempt,
        status: 'failed',
        error: { name: reason.name, message: reason.message, retryable: reason.retryable },
      };
    }
    const { outcome } = decided;
    const suspension = this.durableRun?.suspension;
    if (suspension) return { runId, attempt, status: 'suspended', suspension };
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

  /** held → released, once: by the task (`releaseSlot`) or when it settles. */
  private releaseSlots(): boolean {
    if (this.slotHold === 'released') return false;
    this.slotHold = 'released';
    this.hooks.slots.release(this.slotCost);
    return true;
  }

  /** `event` is a fresh object from the caller, completed in place (a spread with keys after it is slow on V8). */
  private emit(event: DistributiveOmit<RunEvent, 'runId' | 'attempt' | 'at'>): Promise<void> {
    const full = event as RunEvent;
    full.runId = this.assignment.runId;
    full.attempt = this.assignment.attempt;
    full.at = new Date().toISOString();
    return (this.held ?? this.hooks.reporter).report(this.eventsUrl, full).then((outcome: ReportOutcome) => {
      if (outcome === 'stale') this.abort('Stale', 'the engine no longer considers this attempt current');
    });
  }
}

function endEventOf(result: RunResult): DistributiveOmit<RunEvent, 'runId' | 'attempt' | 'at'> {
  if (result.status === 'completed') return { type: 'completed', output: result.output };
  if (result.status === 'suspended') return { type: 'suspended', suspension: result.suspension! };
  return { type: 'failed', error: result.error! };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export function runKey(ref: { runId: string; attempt: number }): string {
  return `${ref.runId}#${ref.attempt}`;
}

export function toTaskError(error: unknown): TaskError {
  if (error instanceof Error) {
    const retryable = !(error instanceof NonRetryableError);
    const stack = typeof error.stack === 'string' ? { stack: error.stack.slice(0, MAX_STACK_CHARS) } : {};
    return { name: error.name, message: error.message, retryable, ...stack };
  }
  return { name: 'Error', message: String(error), retryable: true };
}

/** A parent's output from the assignment; a Hatchet trigger may key it by another case of the name. */
async function parentOutputOf<O>(t: AnyTask, assignment: Assignment, parent: AnyTask): Promise<O> {
  if (!(t.parents ?? []).includes(parent))
    throw new TypeError(`task "${parent.name}" is not a parent of task "${t.name}"`);
  const outputs = assignment.parents;
  if (outputs === undefined)
    throw new TypeError(`run ${assignment.runId} is not part of a workflow run: it has no parent outputs`);
  if (Object.hasOwn(outputs, parent.name)) return outputs[parent.name] as O;
  const lower = parent.name.toLowerCase();
  const found = Object.keys(outputs).find((k) => k.toLowerCase() === lower);
  if (found === undefined)
    throw new TypeError(`run ${assignment.runId} carries no output of parent "${parent.name}"`);
  return outputs[found] as O;
}
