// Drives workflow runs forward: at once when one of their task runs ends on this replica, and from the sweeper
// for any whose wake-up was lost (a crash between a task's end and its workflow run's advance).
import { Belief } from '../belief.ts';
import type { TaskDeclarations } from '../declarations.ts';
import type { Metrics } from '../metrics.ts';
import type { Signals } from '../signals.ts';
import type { Sql } from '../store/sql.ts';
import { workflowRunsOf, workflowRunsPending } from '../store/workflow-runs.ts';
import { advanceWorkflowRun } from './advance.ts';

export interface WorkflowAdvancerOptions {
  sql: Sql;
  declarations: TaskDeclarations;
  signals: Signals;
  metrics: Metrics;
  onError: (error: unknown) => void;
}

export class WorkflowAdvancer {
  /** Ended runs whose workflow runs are to be looked up. */
  private ended = new Set<string>();
  /** Workflow runs known to have a task run that ended: advanced without a look-up. */
  private known = new Set<string>();
  /** Ended runs whose workflow run (or its absence) is known already: their signal that they ended is skipped. */
  private placed = new Set<string>();
  private draining: Promise<void> | undefined;
  /** Whether any workflow run is running: while none is, an ended run costs no look for its workflow run. */
  private readonly anyRunning: Belief;

  constructor(private readonly o: WorkflowAdvancerOptions) {
    this.anyRunning = new Belief(async () => {
      const rows = await o.sql.query<{ any: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pw_workflow_runs WHERE state = 'RUNNING') AS any`,
      );
      return rows[0]?.any === true;
    });
    o.signals.onFinishedHere((ids) => this.runsEnded(ids));
  }

  /** A workflow run was enqueued here: ended runs are looked at from now on. */
  enqueued(): void {
    this.anyRunning.set();
  }

  /**
   * Runs ended by worker events, with the workflow runs of those that are workflow tasks (told just before the
   * signal that they ended): these workflow runs advance at once, and none of the runs is looked up.
   */
  runsEndedIn(runIds: string[], workflowRunIds: string[]): void {
    for (const id of runIds) this.placed.add(id);
    for (const id of workflowRunIds) this.known.add(id);
  }

  /** Advances these workflow runs now, one after another; answers when all have. */
  async advance(ids: Iterable<string>): Promise<void> {
    for (const id of ids) {
      const outcome = await advanceWorkflowRun(this.o.sql, this.o.declarations, id);
      if (outcome.started > 0) this.o.signals.wake();
      // What the advance itself ended (its own passes saw those runs) is not looked up again.
      if (outcome.ended.length > 0) this.doneHere(outcome.ended);
      if (outcome.finished) {
        this.doneHere([id]);
        this.o.metrics.count('pushworker_workflow_runs_finished_total', 'Workflow runs ended, by state.', {
          state: outcome.finished,
        });
      }
    }
  }

  private doneHere(ids: string[]): void {
    for (const id of ids) this.placed.add(id);
    this.o.signals.done(ids);
  }

  /** The sweeper's pass: workflow runs with an ended task run that nothing acted on. */
  async sweep(): Promise<void> {
    await this.advance(await workflowRunsPending(this.o.sql));
  }

  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private runsEnded(ids: string[]): void {
    for (const id of ids) if (!this.placed.delete(id)) this.ended.add(id);
    this.draining ??= this.drain()
      .catch((error) => this.o.onError(error))
      .finally(() => {
        this.draining = undefined;
        if (this.ended.size > 0 || this.known.size > 0) this.runsEnded([]);
      });
  }

  private async drain(): Promise<void> {
    const ids = [...this.ended];
    const known = [...this.known];
    this.ended.clear();
    this.known.clear();
    const found =
      ids.length > 0 && (await this.anyRunning.get()) ? await workflowRunsOf(this.o.sql, ids) : [];
    await this.advance(new Set([...known, ...found]));
  }
}
