// Benchmark server process: a bare Hono route, a floor route (jose verification only), the worker with the Node
// adapter's services (as `serve` gives them) and an events sink. BENCH_VERIFY=jose leaves the push signature to
// jose with WebCrypto; BENCH_SECRET makes the worker take HS256 pushes too; BENCH_EVENTS_URL sends the worker's
// events to another process's sink, so that this process's CPU is the worker's own.
import { readFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { jwtVerify } from 'jose';
import { useNodePlatform } from '../adapters/node.ts';
import { tasks } from '../examples/tasks.ts';
import { createKeySet, createLogger, createWorker, SIGNATURE_HEADER } from '../src/index.ts';
import { adoptPlatform } from '../src/worker/platform.ts';

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
  keys: { jwks, ...(process.env.BENCH_SECRET ? { secret: process.env.BENCH_SECRET } : {}) },
  engineUrl: process.env.BENCH_EVENTS_URL ?? `http://127.0.0.1:${port}`,
  token: 'bench',
  logger: createLogger('silent'),
});
useNodePlatform(worker);
if (process.env.BENCH_VERIFY === 'jose') adoptPlatform(worker, { verifySignature: undefined });
app.route('/worker', worker.app);

process.send?.({ port });
// Exit on request rather than on a signal, so that a CPU profile (BENCH_PROFILE) is written.
process.on('message', (m) => {
  if (m === 'exit') process.exit(0);
  if (m === 'cpu') process.send?.({ cpu: process.cpuUsage(), mainThreadMs: mainThreadCpuMs() });
});

/** The CPU of this process's main thread alone (the event loop's), in ms, where Linux's /proc tells it. */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // After the command's name in parentheses: the state is field 3, utime and stime fields 14 and 15, in ticks of
    // 10 ms (USER_HZ is 100 on every Linux Node runs on).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
