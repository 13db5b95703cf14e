// Publishes the wake event of each workflow run planned to be woken, once its wait has begun: an event published
// before the wait suspends would not count (README, "Durable tasks").
import type { Client } from '../src/client/index.ts';
import type { WorkflowPlan } from './durable.ts';
import { DURABLE_FLOW } from './plan.ts';

export class Waker {
  private readonly pending: WorkflowPlan[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly everyMs = 500,
  ) {}

  add(plan: WorkflowPlan): void {
    if (plan.wake) this.pending.push(plan);
  }

  /** Rounds every `everyMs` on their own, so that a fault the soak waits for (a drain) delays no wake. */
  start(): void {
    this.loop ??= (async () => {
      while (!this.stopped) {
        await this.round();
        await new Promise((r) => setTimeout(r, this.everyMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Errors (an engine down) leave the plan for the next round. */
  private async round(): Promise<void> {
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
