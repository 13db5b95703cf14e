// The worker's line per run: its start and end at a level the user picks, and every failure or refusal at warn.
import type { Rejection, RunResult } from '../protocol/schemas.ts';
import type { Logger, LogLevel } from './log.ts';

/** The part of a run in flight that its lines name; the run object itself keys its start time. */
interface LoggedRun {
  assignment: { runId: string; attempt: number };
  task: { name: string };
}

export class RunLog {
  private readonly started = new WeakMap<LoggedRun, number>();
  private readonly at: ((message: string, fields?: Record<string, unknown>) => void) | undefined;

  constructor(
    private readonly log: Logger,
    level: LogLevel = 'debug',
  ) {
    this.at = level === 'silent' ? undefined : log[level];
  }

  start(run: LoggedRun): void {
    this.started.set(run, Date.now());
    this.at?.('run started', { task: run.task.name, ...refOf(run) });
  }

  /** `result` is undefined when the engine had moved on (stale): nothing more was said about the attempt. */
  end(run: LoggedRun, result: RunResult | undefined): void {
    const ms = Date.now() - (this.started.get(run) ?? Date.now());
    this.started.delete(run);
    const fields = { task: run.task.name, ...refOf(run), ms };
    if (!result) this.at?.('run ended: the engine no longer considers this attempt current', fields);
    else if (result.status === 'completed') this.at?.('run completed', fields);
    else if (result.status === 'suspended') {
      const { entry, until, event } = result.suspension!;
      this.at?.(
        `run suspended at ${entry}: ${event ? `waits for ${event.name} until` : 'sleeps until'} ${until}`,
        fields,
      );
    } else {
      const { name, message, retryable, stack } = result.error!;
      this.log.warn(`run failed: ${name}: ${message}`, { ...fields, retryable });
      if (stack) this.log.debug('run failed here', { ...fields, stack });
    }
  }

  /** Refusals a user should hear of: an unknown task, an input its schema refuses, an untrusted events URL. */
  refused(rejection: Rejection, task: string): void {
    const fields = { task, runId: rejection.runId, attempt: rejection.attempt };
    if (rejection.reason === 'unknown_task')
      this.log.warn('run refused: this worker has no such task', fields);
    else if (rejection.reason === 'invalid_input') {
      this.log.warn('run refused: the input does not match the task schema', {
        ...fields,
        issues: rejection.issues,
      });
    } else if (rejection.reason === 'untrusted_events_url') {
      this.log.warn(
        'run refused: its eventsUrl is on neither the engine URL nor PUSHWORKER_EVENTS_ORIGINS; nothing was sent there',
        fields,
      );
    }
  }
}

const refOf = ({ assignment }: LoggedRun) => ({ runId: assignment.runId, attempt: assignment.attempt });
