// The cron loop: fires the due ticks of schedules, one run per tick across replicas, and sleeps until the next.

import { CronTicks } from '../protocol/cron.ts';
import { SpanAttributes, type TraceSpan } from '../tracing/tracing.ts';
import { newRunId } from './ids.ts';
import type { Metrics } from './metrics.ts';
import type { Signals } from './signals.ts';
import { insertRuns, type NewRun } from './store/runs.ts';
import {
  advanceSchedules,
  lockDueSchedules,
  nextDueTick,
  type ScheduleAdvance,
  type ScheduleRecord,
} from './store/schedules.ts';
import type { Sql } from './store/sql.ts';
import type { EngineTracing } from './tracing.ts';

/** Schedules fired in one transaction; more due ones are fired in the next. */
const BATCH = 100;
/** The shortest sleep, so that a tick another replica holds locked is looked at again soon, not at once. */
const MIN_SLEEP_MS = 10;

export interface ScheduleFirerOptions {
  sql: Sql;
  signals: Signals;
  metrics: Metrics;
  /** The longest sleep: a schedule created or resumed on another replica is seen within this time. */
  pollMs: number;
  onError: (error: unknown) => void;
  /** A root span per tick fired, its run's trace; undefined unless tracing is on. */
  tracing?: EngineTracing | undefined;
}

export interface FireOutcome {
  /** Schedules that had a tick due. */
  schedules: number;
  /** Runs enqueued (a tick whose run exists already enqueues none). */
  runs: number;
}

/** The idempotency key of a tick's run: a tick enqueues one run, whichever engine fires it and however often. */
export function tickKey(schedule: string, tick: number): string {
  return `schedule:${schedule}:${new Date(tick).toISOString()}`;
}

export class ScheduleFirer {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private current: Promise<void> | undefined;
  private running = false;
  private again = false;

  constructor(private readonly o: ScheduleFirerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sleep(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
  }

  /** A schedule was created or resumed here: look again now rather than at the end of the sleep. */
  wake(): void {
    if (!this.running) return;
    if (this.current) this.again = true;
    else this.sleep(0);
  }

  /**
   * Fires every tick due at `now`: each schedule's due ticks by its missed-ticks policy enqueue their runs, and its
   * next tick is set, in one transaction that holds the schedule's row (`FOR UPDATE SKIP LOCKED`).
   */
  async fire(now = Date.now()): Promise<FireOutcome> {
    const total: FireOutcome = { schedules: 0, runs: 0 };
    // Schedules often share an expression: each is parsed once a call.
    const parsed = new Map<string, CronTicks | Error>();
    for (;;) {
      const spans: TraceSpan[] = [];
      const batch = await this.o.sql
        .transaction(async (tx) => {
          spans.length = 0;
          const due = await lockDueSchedules(tx, now, BATCH);
          const runs: NewRun[] = [];
          const advances: ScheduleAdvance[] = [];
          for (const schedule of due) {
            const { ticks, advance } = this.plan(schedule, now, parsed);
            runs.push(...ticks.map((tick) => this.runOf(schedule, tick, spans)));
            advances.push(advance);
          }
          const inserted = runs.length > 0 ? await insertRuns(tx, runs, now) : [];
          await advanceSchedules(tx, advances);
          return { schedules: due.length, runs: inserted.filter((r) => r.created).length };
        })
        .catch((error: unknown) => {
          for (const span of spans) span.fail(String((error as Error)?.message ?? error));
          throw error;
        })
        .finally(() => {
          for (const span of spans) span.end();
        });
      total.schedules += batch.schedules;
      total.runs += batch.runs;
      if (batch.schedules < BATCH) break;
    }
    if (total.runs > 0) {
      this.o.metrics.count(
        'pushworker_schedule_runs_total',
        'Runs enqueued by schedule ticks.',
        {},
        total.runs,
      );
      this.o.signals.wake();
    }
    return total;
  }

  /** Which ticks of a due schedule fire now, and what it records: `latest` fires one, `backfill` up to its limit. */
  private plan(
    s: ScheduleRecord,
    now: number,
    parsed: Map<string, CronTicks | Error>,
  ): { ticks: number[]; advance: ScheduleAdvance } {
    const key = `${s.timezone} ${s.cron}`;
    let cron = parsed.get(key);
    if (!cron) {
      try {
        cron = new CronTicks(s.cron, s.timezone);
      } catch (error) {
        cron = error as Error;
      }
      parsed.set(key, cron);
    }
    if (cron instanceof Error) {
      // Stored expressions were accepted when stored; one that no longer parses stops rather than fails each loop.
      const reason = cron.message;
      this.o.onError(
        new Error(`schedule "${s.name}" stopped: its expression "${s.cron}" no longer parses: ${reason}`),
      );
      return { ticks: [], advance: { name: s.name, lastTickAt: null, nextTickAt: null } };
    }
    const ticks = cron.latest(s.missed === 'backfill' ? s.backfillLimit : 1, s.nextTickAt ?? now, now);
    return {
      ticks,
      advance: { name: s.name, lastTickAt: ticks.at(-1) ?? null, nextTickAt: cron.after(now) },
    };
  }

  /** A tick's run; traced, its trace starts at the tick's root span, kept in `spans` to end after the commit. */
  private runOf(s: ScheduleRecord, tick: number, spans: TraceSpan[]): NewRun {
    const run = runOf(s, tick);
    if (!this.o.tracing) return run;
    const span = this.o.tracing.scheduleFire(s, tick);
    span.set({ [SpanAttributes.runId]: run.id });
    spans.push(span);
    return { ...run, traceparent: span.traceparent };
  }

  private sleep(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.current = this.round()
        .catch((error) => {
          this.o.onError(error);
          return this.o.pollMs;
        })
        .then((next) => {
          this.current = undefined;
          if (!this.running) return;
          if (this.again) {
            this.again = false;
            this.sleep(0);
          } else this.sleep(next);
        });
    }, ms);
  }

  /** One round: fire what is due, then how long to sleep until the next due tick (at most the poll). */
  private async round(): Promise<number> {
    await this.fire();
    const due = await nextDueTick(this.o.sql);
    if (due === null) return this.o.pollMs;
    return Math.min(this.o.pollMs, Math.max(MIN_SLEEP_MS, due - Date.now()));
  }
}

function runOf(s: ScheduleRecord, tick: number): NewRun {
  return {
    id: newRunId(),
    task: s.task,
    input: s.input,
    // The task can tell which tick it runs for, which matters most for backfilled ones.
    metadata: {
      ...s.metadata,
      'pushworker.schedule': s.name,
      'pushworker.tick': new Date(tick).toISOString(),
    },
    idempotencyKey: tickKey(s.name, tick),
    createdBy: null,
  };
}
