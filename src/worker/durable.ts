// A durable run's side of its journal: steps recorded once, sleeps and waits that suspend the run.

import type { z } from 'zod';
import {
  entryBytes,
  JOURNAL_TOO_LARGE,
  type Journal,
  jsonBytes,
  MAX_JOURNAL_BYTES,
  MAX_JOURNAL_ENTRIES,
  MAX_SUSPEND_MS,
  type ReceivedEvent,
  type Suspension,
} from '../protocol/journal.ts';
import { type AnyTask, NonRetryableError, type Task } from './task.ts';

/** Thrown out of `ctx.sleep` and `ctx.waitFor`: the task stops here and is pushed again when it can go on. */
export class SuspendRequested extends Error {
  override name = 'SuspendRequested';
  constructor(readonly suspension: Suspension) {
    super('the run suspended; it is pushed again when it can go on (a durable task must not catch this)');
  }
}

/** A child run waited on did not complete: it failed, was cancelled, or outlasted the wait. Not retried. */
export class ChildRunFailed extends NonRetryableError {
  override name = 'ChildRunFailed';
  constructor(
    message: string,
    readonly childRunId: string,
  ) {
    super(message);
  }
}

/** A step's output would grow the run's journal past `MAX_JOURNAL_BYTES`: the run fails, not retried. */
export class JournalTooLarge extends NonRetryableError {
  override name = JOURNAL_TOO_LARGE;
}

export interface ChildOptions {
  /** The child's key within this run (default `child:<n>` or `spawn:<n>`, by order): one child per key. */
  key?: string;
}

export interface RunChildOptions extends ChildOptions {
  /** How long to wait for the child (default a year); it then fails with `ChildRunFailed`. */
  timeoutMs?: number;
}

/** Asks the engine for the child run of `key`; the same key answers the same run. */
export type SpawnChild = (key: string, task: string, input: unknown) => Promise<{ runId: string }>;

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
  private spawns = 0;
  private children = 0;
  /** Set by the first sleep or wait that stops the run: its outcome is this, whatever the task does next. */
  suspension: Suspension | undefined;
  /** The journal's size as JSON, grown by each step recorded here. */
  private bytes: number;

  constructor(
    private readonly journal: Journal,
    private readonly recordStep: (name: string, output: unknown) => void,
    private readonly spawnChild: SpawnChild,
  ) {
    this.bytes = jsonBytes(journal);
  }

  /** Enqueues a child run and goes on; a retried or resumed parent gets the same child for the same key. */
  async spawn(task: AnyTask, input: unknown, options: ChildOptions = {}): Promise<{ runId: string }> {
    const key = options.key ?? `spawn:${++this.spawns}`;
    this.claim(key);
    checkInput(task, input);
    return this.spawnChild(key, task.name, input);
  }

  /** Enqueues a child run and suspends until it ends: its output, or `ChildRunFailed`. */
  // biome-ignore lint/suspicious/noExplicitAny: any child task, whatever its input.
  async runChild<O>(task: Task<any, O>, input: unknown, options: RunChildOptions = {}): Promise<O> {
    const key = options.key ?? `child:${++this.children}`;
    this.claim(key);
    const entry = this.journal[key];
    if (entry?.kind === 'child') {
      const { runId, result } = entry;
      if (!result) throw new ChildRunFailed(`child run ${runId} did not end within the wait`, runId);
      if (result.state === 'COMPLETED') return result.output as O;
      const reason = (result.error as { message?: string } | null)?.message;
      throw new ChildRunFailed(
        `child run ${runId} ended ${result.state}${reason ? `: ${reason}` : ''}`,
        runId,
      );
    }
    if (entry) throw new NonRetryableError(`journal entry "${key}" is a ${entry.kind}, not a child run`);
    checkInput(task, input);
    const { runId } = await this.spawnChild(key, task.name, input);
    this.suspend({
      entry: key,
      until: untilAfter(options.timeoutMs ?? MAX_SUSPEND_MS, 'runChild timeoutMs'),
      child: { runId },
    });
  }

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>> {
    this.claim(name);
    const entry = this.journal[name];
    if (entry?.kind === 'step') return entry.output as Awaited<T>;
    if (entry) throw new NonRetryableError(`journal entry "${name}" is a ${entry.kind}, not a step`);
    const output = await fn();
    const stored = output === undefined ? null : output;
    const recorded = { kind: 'step' as const, output: stored };
    let grown: number;
    try {
      grown = this.bytes + entryBytes(name, recorded);
    } catch (error) {
      throw new NonRetryableError(`step "${name}" returned what is not JSON: ${(error as Error).message}`);
    }
    if (grown > MAX_JOURNAL_BYTES) {
      throw new JournalTooLarge(
        `step "${name}" would grow the run's journal to ${grown} bytes, over its limit of ${MAX_JOURNAL_BYTES}: return less from a step (a reference to the data, not the data)`,
      );
    }
    this.bytes = grown;
    this.journal[name] = recorded;
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

/** The child's input is checked here, where the mistake is, rather than on the worker that would run it. */
function checkInput(task: AnyTask, input: unknown): void {
  const parsed = (task.input as z.ZodType).safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`)
      .join('; ');
    throw new NonRetryableError(`the input of child task "${task.name}" is not valid: ${issues}`);
  }
}

function untilAfter(ms: number, what: string): string {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_SUSPEND_MS)
    throw new TypeError(`${what} takes 0 to ${MAX_SUSPEND_MS} ms`);
  return new Date(Date.now() + ms).toISOString();
}
