// Benchmark server process: a bare Hono route, a floor route (jose verification only), the worker and an events sink.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { jwtVerify } from 'jose';
import { tasks } from '../examples/tasks.ts';
import { createKeySet, createLogger, createWorker, SIGNATURE_HEADER } from '../src/index.ts';

const jwks = JSON.parse(process.env.BENCH_JWKS!);
const keys = createKeySet({ jwks });

let events = 0;
const app = new Hono();
app.post('/bare', async (c) => c.json({ ok: true, n: ((await c.req.json()) as { v: number }).v }));
app.post('/floor', async (c) => {
  const [key] = await keys({ alg: 'EdDSA', kid: 'bench' });
  await jwtVerify(c.req.header(SIGNATURE_HEADER)!, key!, { audience: 'bench-worker' });
  return c.json({ ok: true, n: ((await c.req.json()) as { v: number }).v });
});
app.post('/v1/events', async (c) => {
  const body = (await c.req.json()) as { events: unknown[] };
  events += body.events.length;
  return c.json({ results: body.events.map(() => 'ok') });
});
app.get('/events', (c) => c.json({ events }));

// Port 0: the port is known once bound, and the worker (whose events go to this same server) is made then, its
// route added before any request comes (the parent is told the port after).
const port = await new Promise<number>((resolve) => {
  serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port));
});

const worker = createWorker({
  name: 'bench-worker',
  tasks,
  slots: 1_000_000,
  keys: { jwks },
  engineUrl: `http://127.0.0.1:${port}`,
  token: 'bench',
  logger: createLogger('silent'),
});
app.route('/worker', worker.app);

process.send?.({ port });
// Exit on request rather than on a signal, so that a CPU profile (BENCH_PROFILE) is written.
process.on('message', (m) => m === 'exit' && process.exit(0));
