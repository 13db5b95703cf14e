// What the Node adapter gives a worker it serves: undici for the engine calls, unless the user chose a fetch.
import type { AddressInfo } from 'node:net';
import { serve as honoServe, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../../adapters/node.ts';
import { tasks } from '../../examples/tasks.ts';
import { createWorker } from '../../src/index.ts';
import { until } from '../support/until.ts';

/** Plays the engine's registration route and keeps each caller's user-agent (Node's fetch sends `node`). */
let engine: ServerType;
let engineUrl: string;
const agents: (string | undefined)[] = [];

beforeAll(async () => {
  const app = new Hono();
  app.put('/v1/workers', (c) => {
    agents.push(c.req.header('user-agent'));
    return c.json({ workerId: 'w1' });
  });
  app.all('*', (c) => c.json({}));
  engineUrl = await new Promise<string>((resolve) => {
    engine = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
  });
});
afterAll(() => new Promise<void>((resolve) => engine.close(() => resolve())));

async function registrationAgent(fetch?: typeof globalThis.fetch): Promise<string | undefined> {
  const before = agents.length;
  const worker = createWorker({
    name: 'platform',
    tasks,
    engineUrl,
    token: 'pww_t',
    keys: { secret: 'x'.repeat(32) },
    logLevel: 'silent',
    ...(fetch ? { fetch } : {}),
  });
  const served = await serve(worker, { port: 0, hostname: '127.0.0.1', handleSignals: false });
  await until(() => agents.length > before, 'the registration', 10_000);
  await served.close();
  return agents[before];
}

describe('a worker served on Node', () => {
  it("calls the engine through undici's request, not Node's fetch", async () => {
    expect(await registrationAgent()).toBeUndefined();
  });

  it('keeps a fetch passed to createWorker', async () => {
    expect(await registrationAgent((input, init) => fetch(input, init))).toBe('node');
  });
});
