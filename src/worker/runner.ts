// Owns the runs in flight: admits assignments within the slot budget, refuses duplicates, cancels and drains.
import { issuesOf } from '../protocol/errors.ts';
import type { Assignment, Rejection, RunRef, RunResult } from '../protocol/schemas.ts';
import type { EventsOrigins } from './events-origins.ts';
import { HeldEvents } from './held-events.ts';
import type { Metrics } from './metrics.ts';
import { ActiveRun, type RunHooks, runKey } from './run.ts';
import type { RunLog } from './run-log.ts';
import type { AnyTask } from './task.ts';

export interface Admission {
  /**
   * `settled` resolves once the task function has returned or thrown, and its slots are free; `recordedSteps` says
   * whether the run has recorded a step so far.
   */
  started: {
    ref: RunRef;
    result: Promise<RunResult | undefined>;
    settled: Promise<unknown>;
    recordedSteps(): boolean;
    /** With `holdEvents`: the run's events so far, for the answer to take or let go. */
    held?: HeldEvents;
  }[];
  rejected: Rejection[];
}

/** How many finished runs are remembered so that a late redelivery is still refused as `duplicate`. */
const RECENT_RUNS = 10_000;

type Hooks = Omit<RunHooks, 'onStarted' | 'onFinished' | 'onSettled' | 'eventsEnabled'>;

export class Runner {
  private readonly active = new Map<string, ActiveRun>();
  private readonly recent = new Set<string>();
  private readonly idle = new Set<() => void>();
  private readonly rejections;
  /** Run hooks, with and without events: made once, not per run. */
  private readonly runHooks: RunHooks;
  private readonly silentRunHooks: RunHooks;

  constructor(
    private readonly tasks: Map<string, AnyTask>,
    hooks: Hooks,
    metrics: Metrics,
    private readonly runLog: RunLog,
    private readonly eventsOrigins: EventsOrigins,
  ) {
    const runsStarted = metrics.counter('pushworker_runs_started_total', 'Runs started, by task.');
    const runsCompleted = metrics.counter('pushworker_runs_completed_total', 'Runs completed, by task.');
    const runsFailed = metrics.counter('pushworker_runs_failed_total', 'Runs failed, by task.');
    const runsSuspended = metrics.counter(
      'pushworker_runs_suspended_total',
      'Durable runs suspended (a sleep, a wait, a child run), by task.',
    );
    this.rejections = metrics.counter(
      'pushworker_assignments_rejected_total',
      'Assignments refused, by reason.',
    );
    metrics.gauge(
      'pushworker_runs_active',
      'Runs whose task function has not returned yet.',
      () => this.active.size,
    );
    const counters = new Map(
      [...tasks.keys()].map((task) => [
        task,
        {
          started: runsStarted.with({ task }),
          completed: runsCompleted.with({ task }),
          failed: runsFailed.with({ task }),
          suspended: runsSuspended.with({ task }),
        },
      ]),
    );
    this.runHooks = {
      ...hooks,
      eventsEnabled: true,
      onStarted: (run) => {
        counters.get(run.task.name)!.started.inc();
        runLog.start(run);
      },
      onFinished: (run, result) => {
        runLog.end(run, result);
        const count = counters.get(run.task.name)!;
        const status = result?.status ?? 'failed';
        (status === 'completed'
          ? count.completed
          : status === 'suspended'
            ? count.suspended
            : count.failed
        ).inc();
      },
      onSettled: (run) => this.settle(run),
    };
    this.silentRunHooks = { ...this.runHooks, eventsEnabled: false };
  }

  get size(): number {
    return this.active.size;
  }

  /**
   * `reportEvents: false` runs without posting events (the caller reports the outcome itself); `holdEvents` keeps
   * each run's events until the caller takes them or lets them go (`Admission.started[].held`).
   */
  admit(assignments: Assignment[], { reportEvents = true, holdEvents = false } = {}): Admission {
    const admission: Admission = { started: [], rejected: [] };
    for (const a of assignments) {
      const ref = { runId: a.runId, attempt: a.attempt };
      const task = this.tasks.get(a.task);
      if (!task) {
        this.reject(admission, ref, 'unknown_task', undefined, a.task);
        continue;
      }
      if (reportEvents && !this.eventsOrigins.allows(a.eventsUrl)) {
        this.reject(admission, ref, 'untrusted_events_url', undefined, a.task);
        continue;
      }
      const key = runKey(a);
      if (this.active.has(key) || this.recent.has(key)) {
        this.reject(admission, ref, 'duplicate');
        continue;
      }
      const input = task.input.safeParse(a.input);
      if (!input.success) {
        this.reject(admission, ref, 'invalid_input', issuesOf(input.error), a.task);
        continue;
      }
      // The worker's own declaration is authoritative for what a run of its task costs.
      const cost = Math.max(a.slotCost, task.slotCost);
      if (!this.runHooks.slots.tryReserve(cost)) {
        this.reject(admission, ref, 'no_slot');
        continue;
      }
      const held = holdEvents && reportEvents ? new HeldEvents(this.runHooks.reporter) : undefined;
      const run = new ActiveRun(
        a,
        task,
        input.data,
        cost,
        reportEvents ? this.runHooks : this.silentRunHooks,
        held,
      );
      this.active.set(key, run);
      const { result, settled } = run.execute();
      admission.started.push({ ref, result, settled, recordedSteps: () => run.recordedSteps, held });
    }
    return admission;
  }

  private reject(
    admission: Admission,
    ref: RunRef,
    reason: Rejection['reason'],
    issues?: unknown[],
    task?: string,
  ): void {
    this.rejections.inc({ reason });
    const rejection = { ...ref, reason, ...(issues ? { issues } : {}) };
    admission.rejected.push(rejection);
    if (task) this.runLog.refused(rejection, task);
  }

  cancel(refs: RunRef[]): { cancelled: RunRef[]; unknown: RunRef[] } {
    const out = { cancelled: [] as RunRef[], unknown: [] as RunRef[] };
    for (const ref of refs) {
      const run = this.active.get(runKey(ref));
      if (run && !run.aborted) {
        run.abort('Cancelled', 'the run was cancelled');
        out.cancelled.push(ref);
      } else out.unknown.push(ref);
    }
    return out;
  }

  abortAll(message: string): void {
    for (const run of this.active.values()) run.abort('WorkerShutdown', message);
  }

  /** Resolves when no task function is running any more, or after `timeoutMs`; true when idle. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.idle.delete(onIdle);
        resolve(idle);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idle.add(onIdle);
    });
  }

  private settle(run: ActiveRun): void {
    this.active.delete(run.key);
    this.recent.add(run.key);
    if (this.recent.size > RECENT_RUNS) this.recent.delete(this.recent.values().next().value!);
    if (this.active.size === 0) for (const fn of [...this.idle]) fn();
  }
}
