// A durable run's side of its journal: steps recorded once, sleeps and waits that suspend the run.
import {
  type Journal,
  MAX_JOURNAL_ENTRIES,
  MAX_SUSPEND_MS,
  type ReceivedEvent,
  type Suspension,
} from '../protocol/journal.ts';
import { NonRetryableError } from './task.ts';

/** Thrown out of `ctx.sleep` and `ctx.waitFor`: the task stops here and is pushed again when it can go on. */
export class SuspendRequested extends Error {
  override name = 'SuspendRequested';
  constructor(readonly suspension: Suspension) {
    super('the run suspended; it is pushed again when it can go on (a durable task must not catch this)');
  }
}

export interface WaitForOptions {
  /** How long to wait; the wait returns null once it has passed. */
  timeoutMs: number;
  /** Only an event whose payload contains these members (compared as JSON) ends the wait. */
  filter?: Record<string, unknown>;
  /** The wait's name in the journal (default `wait:<n>`, by the order of the run's waits). */
  name?: string;
}

/**
 * What the run's journal says, and what this attempt adds. Entries are found by name: the code between two
 * suspensions must call its steps, sleeps and waits in the same order every time it runs.
 */
export class DurableRun {
  private readonly used = new Set<string>();
  private sleeps = 0;
  private waits = 0;
  /** Set by the first sleep or wait that stops the run: its outcome is this, whatever the task does next. */
  suspension: Suspension | undefined;

  constructor(
    private readonly journal: Journal,
    private readonly recordStep: (name: string, output: unknown) => void,
  ) {}

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>> {
    this.claim(name);
    const entry = this.journal[name];
    if (entry?.kind === 'step') return entry.output as Awaited<T>;
    if (entry) throw new NonRetryableError(`journal entry "${name}" is a ${entry.kind}, not a step`);
    const output = await fn();
    const stored = output === undefined ? null : output;
    try {
      JSON.stringify(stored);
    } catch (error) {
      throw new NonRetryableError(`step "${name}" returned what is not JSON: ${(error as Error).message}`);
    }
    this.journal[name] = { kind: 'step', output: stored };
    this.recordStep(name, stored);
    return stored as Awaited<T>;
  }

  async sleep(ms: number, name = `sleep:${++this.sleeps}`): Promise<void> {
    this.claim(name);
    const entry = this.journal[name];
    if (entry?.kind === 'sleep') return;
    if (entry) throw new NonRetryableError(`journal entry "${name}" is a ${entry.kind}, not a sleep`);
    this.suspend({ entry: name, until: untilAfter(ms, 'sleep') });
  }

  async waitFor(event: string, options: WaitForOptions): Promise<ReceivedEvent | null> {
    const name = options.name ?? `wait:${++this.waits}`;
    this.claim(name);
    const entry = this.journal[name];
    if (entry?.kind === 'wait') return entry.received ?? null;
    if (entry) throw new NonRetryableError(`journal entry "${name}" is a ${entry.kind}, not a wait`);
    this.suspend({
      entry: name,
      until: untilAfter(options.timeoutMs, 'waitFor timeoutMs'),
      event: { name: event, ...(options.filter ? { filter: options.filter } : {}) },
    });
  }

  private claim(name: string): void {
    if (this.suspension) throw new SuspendRequested(this.suspension);
    if (this.used.has(name)) throw new NonRetryableError(`journal entry "${name}" is used twice in one run`);
    if (Object.keys(this.journal).length >= MAX_JOURNAL_ENTRIES && !(name in this.journal))
      throw new NonRetryableError(`a run's journal holds at most ${MAX_JOURNAL_ENTRIES} entries`);
    this.used.add(name);
  }

  private suspend(suspension: Suspension): never {
    this.suspension = suspension;
    throw new SuspendRequested(suspension);
  }
}

function untilAfter(ms: number, what: string): string {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_SUSPEND_MS)
    throw new TypeError(`${what} takes 0 to ${MAX_SUSPEND_MS} ms`);
  return new Date(Date.now() + ms).toISOString();
}
