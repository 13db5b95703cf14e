// Publishes the wake event of each workflow run planned to be woken, once its wait has begun: an event published
// before the wait suspends would not count (README, "Durable tasks").
import type { Client } from '../src/client/index.ts';
import type { WorkflowPlan } from './durable.ts';
import { DURABLE_FLOW } from './plan.ts';

export class Waker {
  private readonly pending: WorkflowPlan[] = [];
  private lastRound = 0;

  constructor(
    private readonly client: Client,
    private readonly everyMs = 500,
  ) {}

  add(plan: WorkflowPlan): void {
    if (plan.wake) this.pending.push(plan);
  }

  /** One round, at most every `everyMs`; errors (an engine down) leave the plan for the next round. */
  async round(): Promise<void> {
    if (this.pending.length === 0 || Date.now() - this.lastRound < this.everyMs) return;
    this.lastRound = Date.now();
    for (const p of [...this.pending]) {
      try {
        const view = await this.client.getWorkflowRun(p.workflowRunId);
        const runId = view.tasks.find((t) => t.task === DURABLE_FLOW.tasks.c)?.runId;
        if (view.state !== 'RUNNING') this.drop(p);
        if (!runId || view.state !== 'RUNNING') continue;
        const run = await this.client.getRun(runId);
        const wait = run.journal?.['wait:1'];
        if (run.state !== 'QUEUED' || wait?.kind !== 'wait' || wait.received) continue;
        await this.client.publish({
          name: DURABLE_FLOW.wakeEvent,
          payload: { flow: p.flow },
          id: `wake-${p.flow}`,
        });
        this.drop(p);
      } catch {
        // The engine is down or restarting: the next round asks again.
      }
    }
  }

  private drop(p: WorkflowPlan): void {
    this.pending.splice(this.pending.indexOf(p), 1);
  }
}
