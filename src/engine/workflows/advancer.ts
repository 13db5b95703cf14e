// Drives workflow runs forward: at once when one of their task runs ends on this replica, and from the sweeper
// for any whose wake-up was lost (a crash between a task's end and its workflow run's advance).
import { Belief } from '../belief.ts';
import type { TaskDeclarations } from '../declarations.ts';
import type { Metrics } from '../metrics.ts';
import type { Signals } from '../signals.ts';
import type { Sql } from '../store/sql.ts';
import { type WorkflowRunToAdvance, workflowRunsOf, workflowRunsPending } from '../store/workflow-runs.ts';
import { advanceWorkflowRun } from './advance.ts';

export interface WorkflowAdvancerOptions {
  sql: Sql;
  declarations: TaskDeclarations;
  signals: Signals;
  metrics: Metrics;
  onError: (error: unknown) => void;
}

export class WorkflowAdvancer {
  private ended = new Set<string>();
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

  /** Advances these workflow runs now, one after another; answers when all have. */
  async advance(runs: Iterable<WorkflowRunToAdvance>): Promise<void> {
    for (const run of runs) {
      const { id } = run;
      const outcome = await advanceWorkflowRun(this.o.sql, this.o.declarations, run);
      if (outcome.started > 0) this.o.signals.wake();
      if (outcome.ended.length > 0) this.o.signals.done(outcome.ended);
      if (outcome.finished) {
        this.o.signals.done([id]);
        this.o.metrics.count('pushworker_workflow_runs_finished_total', 'Workflow runs ended, by state.', {
          state: outcome.finished,
        });
      }
    }
  }

  /** The sweeper's pass: workflow runs with an ended task run that nothing acted on. */
  async sweep(): Promise<void> {
    await this.advance(await workflowRunsPending(this.o.sql));
  }

  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private runsEnded(ids: string[]): void {
    for (const id of ids) this.ended.add(id);
    this.draining ??= this.drain()
      .catch((error) => this.o.onError(error))
      .finally(() => {
        this.draining = undefined;
        if (this.ended.size > 0) this.runsEnded([]);
      });
  }

  private async drain(): Promise<void> {
    const ids = [...this.ended];
    this.ended.clear();
    if (!(await this.anyRunning.get())) return;
    await this.advance(await workflowRunsOf(this.o.sql, ids));
  }
}
