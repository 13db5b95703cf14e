// The demo's workflow runs: orders through the example worker's `order` workflow (fetch, then price and reserve
// side by side, then invoice), some with a sold-out item, waited on and summed up beside the task runs.
import type { Client, WorkflowEnqueueRequest, WorkflowRunView } from '../client/index.ts';
import { percentile } from './format.ts';

export interface DemoOrder {
  request: WorkflowEnqueueRequest;
  /** A cap is sold out in the example's stock: that order fails at reserveStock and is never invoiced. */
  expect: 'COMPLETED' | 'FAILED';
}

export function demoOrders(total: number): DemoOrder[] {
  return Array.from({ length: total }, (_, i) => {
    const soldOut = i % 4 === 3;
    const items = [
      { sku: 'mug', quantity: 1 + (i % 3) },
      { sku: soldOut ? 'cap' : 'tee', quantity: 1 },
    ];
    return {
      request: { workflow: 'order', input: { orderId: `demo-order-${i}`, items } },
      expect: soldOut ? 'FAILED' : 'COMPLETED',
    };
  });
}

export async function enqueueOrders(client: Client, orders: DemoOrder[]): Promise<WorkflowRunView[]> {
  return Promise.all(orders.map((o) => client.runWorkflow(o.request)));
}

/** Each workflow run as it ended, or as it stood at `deadline`. */
export async function waitOrders(
  client: Client,
  runs: WorkflowRunView[],
  deadline: number,
): Promise<WorkflowRunView[]> {
  return Promise.all(
    runs.map((r) => client.waitWorkflowRun(r.id, { timeoutMs: Math.max(0, deadline - Date.now()) })),
  );
}

/** The runs that did not end as their order expects. */
export function unexpectedOrders(orders: DemoOrder[], runs: WorkflowRunView[]): WorkflowRunView[] {
  return runs.filter((r, i) => r.state !== orders[i]!.expect);
}

export function printOrdersSummary(runs: WorkflowRunView[], out: (line: string) => void): void {
  const count = (state: string) => runs.filter((r) => r.state === state).length;
  const invoiced = runs
    .filter((r) => r.state === 'COMPLETED' && r.finishedAt)
    .map((r) => Date.parse(r.finishedAt!) - Date.parse(r.createdAt))
    .sort((a, b) => a - b);
  out(
    `workflows: ${runs.length} order runs (fetchOrder, then priceOrder and reserveStock, then invoiceOrder): ` +
      `${count('COMPLETED')} invoiced, ${count('FAILED')} failed on a sold-out item, ` +
      `${count('RUNNING')} not finished; enqueue to invoice p50 ${percentile(invoiced, 50)} ms`,
  );
}
