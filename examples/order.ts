// The example workflow: an order is read, then priced and its stock reserved side by side, then invoiced from both.
import { z } from 'zod';
import { NonRetryableError, task, workflow } from '../src/index.ts';

/** Unit prices in cents; a stand-in for the catalog an order would be read against. */
const PRICES = { mug: 1200, tee: 2500, cap: 1800 } as const;
/** Units on hand: caps are sold out, so an order with a cap cannot be reserved. */
const STOCK: Record<keyof typeof PRICES, number> = { mug: 100, tee: 100, cap: 0 };
const TAX_RATE = 0.2;

const Order = z.object({
  orderId: z.string().min(1),
  items: z
    .array(z.object({ sku: z.enum(['mug', 'tee', 'cap']), quantity: z.number().int().min(1).max(100) }))
    .min(1),
});

export const fetchOrder = task({
  name: 'fetchOrder',
  input: Order,
  run: ({ orderId, items }) => ({
    orderId,
    lines: items.map((item) => ({ ...item, unitCents: PRICES[item.sku] })),
  }),
});

export const priceOrder = task({
  name: 'priceOrder',
  input: Order,
  parents: [fetchOrder],
  run: async (_order, ctx) => {
    const { lines } = await ctx.parentOutput(fetchOrder);
    const subtotalCents = lines.reduce((sum, line) => sum + line.quantity * line.unitCents, 0);
    const taxCents = Math.round(subtotalCents * TAX_RATE);
    return { subtotalCents, taxCents, totalCents: subtotalCents + taxCents };
  },
});

export const reserveStock = task({
  name: 'reserveStock',
  input: Order,
  parents: [fetchOrder],
  run: async (_order, ctx) => {
    const { orderId, lines } = await ctx.parentOutput(fetchOrder);
    const short = lines.find((line) => STOCK[line.sku] < line.quantity);
    // Retrying does not restock: the order fails for good, and its invoice is never issued.
    if (short) throw new NonRetryableError(`${short.sku} is out of stock`);
    return { reservationId: `res-${orderId}`, units: lines.reduce((sum, line) => sum + line.quantity, 0) };
  },
});

export const invoiceOrder = task({
  name: 'invoiceOrder',
  input: Order,
  parents: [priceOrder, reserveStock],
  run: async ({ orderId }, ctx) => ({
    invoiceId: `inv-${orderId}`,
    totalCents: (await ctx.parentOutput(priceOrder)).totalCents,
    reservationId: (await ctx.parentOutput(reserveStock)).reservationId,
    // The workflow run that issued it, so that a re-run of the order can be told apart.
    workflowRunId: ctx.workflowRunId,
  }),
});

export const order = workflow({ name: 'order', tasks: [fetchOrder, priceOrder, reserveStock, invoiceOrder] });
