// The example's order workflow enqueued through a real engine, which pushes each task to the target as its parents
// complete: fan-out after fetchOrder, fan-in at invoiceOrder, every assignment carrying `parents` and `workflowRunId`.
import { expect, it } from 'vitest';
import type { Harness } from '../support/engine.ts';
import { deployOnEngine } from './engine-deployment.ts';
import type { TargetFactory } from './targets/target.ts';

export const ORDER = {
  orderId: 'o-42',
  items: [
    { sku: 'mug', quantity: 2 },
    { sku: 'tee', quantity: 1 },
  ],
};

export function engineWorkflowScenario(factory: TargetFactory, startEngine: () => Promise<Harness>): void {
  it('runs the order workflow enqueued through the engine: fan-out, then fan-in reading both parents', async () => {
    const h = await startEngine();
    const deployment = await deployOnEngine(factory, h);
    try {
      const { id } = await h.client.runWorkflow({ workflow: 'order', input: ORDER });
      const done = await h.client.waitWorkflowRun(id, { timeoutMs: 20_000 });
      expect(done.tasks.map((t) => [t.task, t.state])).toEqual([
        ['fetchOrder', 'COMPLETED'],
        ['priceOrder', 'COMPLETED'],
        ['reserveStock', 'COMPLETED'],
        ['invoiceOrder', 'COMPLETED'],
      ]);
      expect(done.state).toBe('COMPLETED');
      expect(done.output).toEqual({
        fetchOrder: {
          orderId: 'o-42',
          lines: [
            { sku: 'mug', quantity: 2, unitCents: 1200 },
            { sku: 'tee', quantity: 1, unitCents: 2500 },
          ],
        },
        priceOrder: { subtotalCents: 4900, taxCents: 980, totalCents: 5880 },
        reserveStock: { reservationId: 'res-o-42', units: 3 },
        invoiceOrder: {
          invoiceId: 'inv-o-42',
          totalCents: 5880,
          reservationId: 'res-o-42',
          workflowRunId: id,
        },
      });
    } finally {
      await deployment.close();
    }
  });
}
